import type { Command } from 'commander'
import { lazyAction } from '../lazy-action.ts'

/** `senshagen rejects [--device D] [--since T] [--limit N] [--format text|json]`: the dead-letter store (cli/commands/impl/rejects.ts). */
export function registerRejectsCommand(program: Command): void {
  program
    .command('rejects')
    .description('list rejected messages and values with their reasons')
    .option('--device <id>', 'only this device and its sub-devices (<id>.<sensor>)')
    .option('--since <time>', 'only rejections at or after this time (ISO-8601, YYYY-MM-DD, -1d)')
    .option('--limit <n>', 'show the newest <n> (oldest first)', '1000')
    .option('--format <format>', 'text or json', 'text')
    .action(lazyAction(() => import('./impl/rejects.ts'), 'runRejects'))
}
