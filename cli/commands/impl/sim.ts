import { SensHagenError } from '../../../core/errors.ts'
import { readingsTopic } from '../../../core/topics.ts'
import { backfill, startFleet, type SimConnection } from '../../../firmware-sim/fleet.ts'
import { deviceIdFor } from '../../../firmware-sim/model.ts'
import type { Config } from '../../../core/config.ts'
import { openRegistryStore } from '../../../core/registry/open.ts'
import { clientCredentials } from '../../../core/registry/service-credentials.ts'
import { cliContext, fail, runUntilSignal } from '../../context.ts'
import { redactUrl } from '../../../core/redact.ts'
import { BACKFILL_STEP_MS } from '../sim.ts'

/** `senshagen sim` options after validation; times in the unit of their name. */
export interface SimOptions {
  devices: number
  intervalS: number
  seed: number
  qos: 0 | 1
  durationS?: number
  backfillH: number
}

/** The options as commander hands them over (strings, `duration` absent unless given). */
export interface RawSimOptions {
  devices: string
  interval: string
  seed: string
  qos: string
  duration?: string
  backfill: string
}

/** Validates the command-line options; throws an Error whose message names the option (`--devices must be …`). */
export function parseSimOptions(raw: RawSimOptions): SimOptions {
  const integer = (text: string, name: string, min: number, max: number): number => {
    const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer ${min}..${max} (got '${text}')`)
    return n
  }
  const number = (text: string, name: string, min: number, max: number, unit: string): number => {
    const n = text.trim() === '' ? NaN : Number(text)
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number of ${unit} ${min}..${max} (got '${text}')`)
    return n
  }
  if (raw.qos !== '0' && raw.qos !== '1') throw new Error(`--qos must be 0 or 1 (got '${raw.qos}')`)
  return {
    devices: integer(raw.devices, '--devices', 1, 1000),
    intervalS: number(raw.interval, '--interval', 0.1, 86_400, 'seconds'),
    seed: integer(raw.seed, '--seed', 0, 4_294_967_295),
    qos: raw.qos === '0' ? 0 : 1,
    durationS: raw.duration === undefined ? undefined : number(raw.duration, '--duration', 0.1, 31_536_000, 'seconds'),
    backfillH: number(raw.backfill, '--backfill', 0, 168, 'hours'),
  }
}

/** `senshagen sim` (cli/commands/sim.ts): checks the options and the registry, backfills, then runs the fleet. */
export async function runSim(raw: RawSimOptions): Promise<void> {
  let options: SimOptions
  try {
    options = parseSimOptions(raw)
  } catch (error) {
    fail((error as Error).message, 2)
  }
  const { config, logger } = cliContext()
  await requireRegistered(config, options.devices)
  const connection: SimConnection = {
    mqttUrl: config.mqtt.url,
    ...clientCredentials(config, 'importer'),
    seed: options.seed,
    devices: options.devices,
    qos: options.qos,
  }
  process.stderr.write(`senshagen sim: ${summary(options, config.mqtt.url)}\n`)
  try {
    if (options.backfillH > 0) {
      const now = Date.now()
      const stats = await backfill({ ...connection, fromMs: now - options.backfillH * 3_600_000, toMs: now, stepMs: BACKFILL_STEP_MS }, logger)
      process.stderr.write(`senshagen sim: backfilled ${stats.published} readings (${stats.failed} failed)\n`)
    }
    const fleet = await startFleet(
      { ...connection, intervalMs: options.intervalS * 1000, durationMs: options.durationS === undefined ? undefined : options.durationS * 1000 },
      logger,
    )
    let reported = false
    const finish = async () => {
      await fleet.stop()
      if (reported) return
      reported = true
      const { published, failed, dropped } = fleet.stats
      process.stderr.write(`senshagen sim: stopped; published ${published}, failed ${failed}, dropped ${dropped}\n`)
    }
    runUntilSignal(logger, finish)
    await fleet.done
    await finish()
  } catch (error) {
    if (error instanceof SensHagenError) fail(error.message)
    throw error
  }
}

function summary(o: SimOptions, url: string): string {
  const ids = o.devices === 1 ? deviceIdFor(0) : `${deviceIdFor(0)}..${deviceIdFor(o.devices - 1)}`
  const parts = [
    `${o.devices} device${o.devices === 1 ? '' : 's'} (${ids}) -> ${redactUrl(url)} ${readingsTopic('{device}')}`,
    `every ${o.intervalS} s, QoS ${o.qos}, seed ${o.seed}`,
  ]
  if (o.backfillH > 0) parts.push(`backfill ${o.backfillH} h`)
  parts.push(o.durationS === undefined ? 'until Ctrl-C' : `for ${o.durationS} s`)
  return parts.join(', ')
}


/**
 * The simulated devices publish through the importer account, which the broker lets publish only for registered,
 * active devices: say which are missing before connecting instead of having the broker close the connection.
 */
async function requireRegistered(config: Config, devices: number): Promise<void> {
  const registry = await openRegistryStore(config.registry).catch((error: unknown) => fail((error as Error).message))
  try {
    const missing: string[] = []
    for (let i = 0; i < devices; i++) {
      const device = await registry.device(deviceIdFor(i))
      if (device === undefined || device.revokedAt !== undefined) missing.push(deviceIdFor(i))
    }
    if (missing.length > 0) {
      fail(
        `${missing.length} simulated device(s) not registered (or revoked): ${missing.join(', ')}\n` +
          `  register them with 'senshagen devices import config/devices.json' (the demo fleet) or 'senshagen devices add <id> --neighbourhood N --consent yes|no'`,
      )
    }
  } finally {
    await registry.close()
  }
}
