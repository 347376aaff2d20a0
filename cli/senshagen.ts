import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { registerApiCommand } from './commands/api.ts'
import { registerCalibrateCommand } from './commands/calibrate.ts'
import { registerExportCommand } from './commands/export.ts'
import { registerDevicesCommand } from './commands/devices.ts'
import { registerMetricsCommand } from './commands/metrics.ts'
import { registerQueryCommand } from './commands/query.ts'
import { registerReferenceCommand } from './commands/reference.ts'
import { registerRejectsCommand } from './commands/rejects.ts'
import { registerReplayCommand } from './commands/replay.ts'
import { registerServiceCommands } from './commands/services.ts'
import { registerSimCommand } from './commands/sim.ts'

/**
 * `senshagen`: one command-line entry for every service and tool. Configuration comes from SENSHAGEN_*
 * environment variables (README "Configuration"); each command's --help lists its options.
 */
// `senshagen devices | head` closes the pipe early: that is the reader's choice, not an error
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})

const program = new Command('senshagen')
  .description('SensHagen: citizen weather and air-quality sensors, MQTT -> validating ingest -> Kafka -> InfluxDB')
  .version((JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version)
  .showHelpAfterError()
  // usage errors (unknown command or option, missing required option) exit with 2, as our own checks do
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))

registerServiceCommands(program)
registerReplayCommand(program)
registerQueryCommand(program)
registerRejectsCommand(program)
registerDevicesCommand(program)
registerMetricsCommand(program)
registerCalibrateCommand(program)
registerReferenceCommand(program)
registerExportCommand(program)
registerApiCommand(program)
registerSimCommand(program)

await program.parseAsync(process.argv)
