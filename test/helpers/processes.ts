import { spawn, type ChildProcess } from 'node:child_process'
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
  /** SIGKILL: no shutdown code runs, exactly as a crash. Resolves when the process is gone. */
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
      child.kill('SIGKILL')
      await exited
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}
