import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

export interface CliProcess {
  child: ChildProcess
  /** Everything the process wrote to stderr so far (pino JSON lines). */
  stderr(): string
  /**
   * SIGKILL: no shutdown code runs, exactly as a crash. bin/senshagen.js relaunches node with its runtime settings,
   * so the service is a child of `child`: both get SIGKILL at once. Resolves when both are gone.
   */
  kill9(): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts `senshagen <args>` as its own process (the way an operator runs it) and resolves once a stderr log
 * line contains `readyText`.
 */
export async function startCli(args: string[], env: Record<string, string>, readyText: string, timeoutMs = 30_000): Promise<CliProcess> {
  const child = spawn(process.execPath, ['bin/senshagen.js', ...args], {
    cwd: REPO,
    env: { ...process.env, ...env, SENSHAGEN_LOG_LEVEL: 'info' }, // info: the ready lines are logged at info
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  child.stdout!.resume()
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL') // never leave a half-started service behind
      reject(new Error(`senshagen ${args.join(' ')} not ready after ${timeoutMs} ms:\n${stderr}`))
    }, timeoutMs)
    const check = () => {
      if (stderr.includes(readyText)) {
        clearTimeout(timer)
        child.stderr!.off('data', check)
        resolve()
      }
    }
    child.stderr!.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`senshagen ${args.join(' ')} exited with ${code} before it was ready:\n${stderr}`))
    })
  })
  return {
    child,
    stderr: () => stderr,
    async kill9() {
      const service = childrenOf(child.pid)
      child.kill('SIGKILL')
      for (const pid of service) process.kill(pid, 'SIGKILL')
      await exited
      await waitGone(service)
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/** Process ids of the children of `pid` (Linux /proc), empty when there are none or `pid` is gone. */
function childrenOf(pid: number | undefined): number[] {
  const file = `/proc/${pid}/task/${pid}/children`
  if (pid === undefined || !existsSync(file)) return []
  return readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
}

/** Resolves once none of `pids` exists any more (a killed child is reaped by its parent's exit). */
async function waitGone(pids: number[]): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0)
      return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ') // a zombie is gone for our purposes
    } catch {
      return false
    }
  }
  while (pids.some(alive)) await new Promise((resolve) => setTimeout(resolve, 20))
}
