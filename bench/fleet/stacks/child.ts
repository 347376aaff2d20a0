import { fork, spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Child processes of the benchmark: the stacks' servers, the load generator, Mosquitto, Node-RED. Each writes
 * its stdout and stderr to its own log file. Every child is remembered so that an interrupted run ends exactly
 * the processes it started (`stopAllChildren`), by their pid.
 */

const children = new Set<ChildProcess>()

/** A TypeScript module of this repository run as a Node child (`node --import tsx`) with an IPC channel. */
export class TsChild<In, Out extends { type: string }> {
  readonly process: ChildProcess
  private readonly inbox: Out[] = []
  private readonly waiters: Array<() => void> = []
  private exited: string | undefined

  /** `extraEnv` is added to this process's environment for the child. */
  constructor(moduleUrl: URL, logFile: string, extraExecArgv: string[] = [], extraEnv: Record<string, string> = {}) {
    const log = openSync(logFile, 'a')
    this.process = fork(fileURLToPath(moduleUrl), [], { execArgv: ['--import', 'tsx', ...extraExecArgv], env: { ...process.env, ...extraEnv }, stdio: ['ignore', log, log, 'ipc'] })
    closeSync(log)
    children.add(this.process)
    this.process.on('message', (message) => {
      this.inbox.push(message as Out)
      this.wake()
    })
    this.process.on('exit', (code, signal) => {
      children.delete(this.process)
      this.exited = `exited (${signal ?? `code ${code}`}); see ${logFile}`
      this.wake()
    })
  }

  get pid(): number {
    return this.process.pid!
  }

  send(message: In): void {
    this.process.send(message as object)
  }

  /** The next message of `type` (earlier ones of other types stay queued); rejects on an `error` message or exit. */
  async next<T extends Out['type']>(type: T, timeoutMs: number): Promise<Extract<Out, { type: T }>> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type || m.type === 'error')
      if (i >= 0) {
        const [message] = this.inbox.splice(i, 1)
        if (message!.type === 'error') throw new Error(`child ${this.pid}: ${(message as unknown as { message: string }).message}`)
        return message as Extract<Out, { type: T }>
      }
      if (this.exited !== undefined) throw new Error(`child ${this.pid} ${this.exited}`)
      if (Date.now() >= deadline) throw new Error(`child ${this.pid}: no '${type}' within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now())
        this.waiters.push(() => (clearTimeout(timer), resolve()))
      })
    }
  }

  /** Sends `message` (the child's own stop request) and waits for the exit; SIGKILL after `timeoutMs`. */
  async stop(message: In, timeoutMs = 20_000): Promise<void> {
    if (this.exited !== undefined) return
    const exited = new Promise((resolve) => this.process.once('exit', resolve))
    try {
      this.send(message)
    } catch {
      // channel already closed
    }
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs)
    await exited
    clearTimeout(timer)
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter()
  }
}

/** A program (Mosquitto, Node-RED) as a child; stdout and stderr appended to `logFile`. */
export function spawnLogged(command: string, args: string[], logFile: string, cwd?: string): ChildProcess {
  const log = openSync(logFile, 'a')
  const child = spawn(command, args, { stdio: ['ignore', log, log], cwd })
  closeSync(log)
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the process has exited. */
export async function stopProcess(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  await exited
  clearTimeout(timer)
}

/** Kills every child still running (by its pid): for an interrupted run. */
export function stopAllChildren(): void {
  for (const child of children) child.kill('SIGKILL')
}
