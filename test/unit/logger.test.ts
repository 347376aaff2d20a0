import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const SCRIPT = fileURLToPath(new URL('../fixtures/scripts/log-then-exit.ts', import.meta.url))

describe('createLogger', () => {
  // CI saw `up`'s shutdown log end `stopped, writer stopped`: pino's asynchronous destination left the writer's line
  // in libuv's busy thread pool while the exit handler flushed `stopped` first
  it('has every line on stderr, in order, when the process exits right after logging with the thread pool busy', async () => {
    const { stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx/esm', SCRIPT], { cwd: fileURLToPath(new URL('../..', import.meta.url)) })
    const messages = stderr.trim().split('\n').map((line) => (JSON.parse(line) as { msg: string }).msg)
    expect(messages).toEqual(['started', 'writer stopped', 'stopped'])
  })
})
