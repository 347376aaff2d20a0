#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx's loader, so a clone needs no build step.
//
// The first process only relaunches node with SensHagen's runtime settings (bin/runtime.js: malloc settings that
// glibc reads at start-up, V8 heap flags) and passes signals and the exit status through; the relaunched process
// runs the CLI. It is skipped when the settings are already in place (SENSHAGEN_RUNTIME_SETTINGS is set).
import { spawn } from 'node:child_process'
import { RUNTIME_MARKER, runtimeSettings } from './runtime.js'

if (process.env[RUNTIME_MARKER] === undefined) relaunch()
else await runCli()

function relaunch() {
  let settings
  try {
    settings = runtimeSettings(process.env)
  } catch (error) {
    process.stderr.write(`senshagen: ${error.message}\n`)
    process.exit(2)
  }
  const child = spawn(process.execPath, [...settings.execArgv, ...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, ...settings.env },
    // the IPC channel tells the CLI process when this one is gone (killed): it then goes too
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  })
  // Ctrl-C reaches both processes (one process group), so SIGINT is not passed on, only ignored here; a signal
  // sent to this process alone (a service manager's SIGTERM) is
  process.on('SIGINT', () => {})
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal))
  child.on('error', (error) => {
    process.stderr.write(`senshagen: could not start ${process.execPath}: ${error.message}\n`)
    process.exit(1)
  })
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1)
    process.removeAllListeners(signal)
    process.kill(process.pid, signal)
  })
}

async function runCli() {
  if (process.channel !== undefined) {
    process.channel.unref() // the channel alone does not keep the CLI running
    process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'))
  }
  const { register } = await import('tsx/esm/api')
  register()
  await import('../cli/senshagen.ts')
}
