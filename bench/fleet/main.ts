/**
 * `npm run bench`: the same fleet load offered to five stacks in one run (issue 9 item 5; docs/benchmarks.md
 * says what is measured and how). Per stack: its server side in child processes (bench/fleet/stacks/), the load
 * generator in another (bench/fleet/load/), each offered rate in turn (bench/fleet/step.ts); then the table, the
 * ratios to the ceiling and to Node-RED, the issue's targets, and the results as JSON in reports/. With
 * `--repeat N` all that in N rounds, reported as the median over them (bench/fleet/rounds.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { profileBusyMs, summariseProfile } from '../cpu-profile-top.ts'
import { prepareFleet } from './fleet-setup.ts'
import type { FromGenerator, ToGenerator } from './load/messages.ts'
import { InfluxBench } from './measure/influx.ts'
import { findProcess, loadAverage } from './measure/procs.ts'
import { estimateS, parseOptions, runsInRound, USAGE, type BenchOptions } from './options.ts'
import { evaluateTargets, formatRow, markdownReport, ratioLines, TABLE_HEADER, type StackResult } from './report.ts'
import { aggregateRounds, rangeLines, type Round } from './rounds.ts'
import { stopAllChildren, TsChild } from './stacks/child.ts'
import { startStack, STACK_LABELS, type StackContext, type StackId } from './stacks/index.ts'
import { MOSQUITTO_LIMITS } from './stacks/mosquitto.ts'
import { coolDown, recount, runStep, type StepSettings } from './step.ts'

const say = (text: string) => console.log(`[bench] ${text}`)
const WARMUP = { rate: 200, durationMs: 1_000 }
/** What an interrupted run (Ctrl-C) must still clean up besides the child processes. */
const pending = { databases: new Set<InfluxBench>(), keepData: false, secretsDir: undefined as string | undefined }

async function main(): Promise<void> {
  const parsed = parseOptions(process.argv.slice(2))
  if (parsed === 'help') return console.log(USAGE)
  const o: BenchOptions = parsed
  const started = new Date()
  const stamp = started.toISOString().replace(/[:.]/g, '-').slice(0, 19)
  const runId = `b${Date.now().toString(36)}`
  const logDir = join('reports', `bench-${stamp}`)
  mkdirSync(logDir, { recursive: true })
  const secretsDir = mkdtempSync(join(tmpdir(), 'senshagen-bench-'))
  pending.secretsDir = secretsDir
  pending.keepData = o.keepData
  const maxRate = Math.max(...o.rates)
  // SensHagen limits each device (default 5 msg/s, burst 60); the benchmark's devices publish rate/devices each
  const deviceRate = process.env.SENSHAGEN_MQTT_DEVICE_RATE ?? String(Math.ceil((2 * maxRate) / o.devices))
  const deviceBurst = process.env.SENSHAGEN_MQTT_DEVICE_BURST ?? String(Math.max(60, Number(deviceRate)))
  const senshagenEnv = {
    SENSHAGEN_LOG_LEVEL: 'warn',
    ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('SENSHAGEN_') && e[1] !== undefined)),
    SENSHAGEN_MQTT_DEVICE_RATE: deviceRate,
    SENSHAGEN_MQTT_DEVICE_BURST: deviceBurst,
  }
  const header = {
    date: started.toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAverageAtStart: loadAverage() },
    note: o.note,
    load: {
      devices: o.devices,
      qos: 1,
      readingsPerMessage: 5,
      rates: o.rates,
      durationS: o.durationS,
      inFlightWindowPerConnection: o.window,
      senshagenDeviceRateLimit: `${deviceRate} msg/s, burst ${deviceBurst} (default 5 msg/s, burst 60; raised so that ${maxRate} msg/s over ${o.devices} devices passes)`,
      mosquitto: MOSQUITTO_LIMITS,
    },
    options: o,
  }
  say(`${started.toISOString()}  ${cpus().length} cores, load average ${loadAverage().join(' ')}${o.note ? `  (${o.note})` : ''}`)
  say(`load: ${o.devices} device connections (own logins), QoS 1, 5 readings/message, ${o.rates.join(', ')} msg/s for ${o.durationS} s each, ≤ ${o.window} in flight per connection`)
  say(`SensHagen's per-device rate limit raised to ${header.load.senshagenDeviceRateLimit}`)
  const nodeRedOnce = o.repeat > 1 && o.stacks.includes('node-red') && !o.repeatNodeRed
  const rounds = o.repeat > 1 ? ` in ${o.repeat} rounds${nodeRedOnce ? ' (Node-RED in round 1 only)' : ''}` : ''
  say(`estimated time${rounds}: about ${Math.max(1, Math.round(estimateS(o) / 60))} minutes on a quiet machine`)
  say(`logs: ${logDir}/`)

  say(`registering ${o.devices} devices in a throwaway registry ...`)
  const fleet = await prepareFleet(secretsDir, o.devices, (n) => n % 100 === 0 && say(`  ${n} devices`))
  const influxdPid = findProcess(/^influxd\b/)
  const measured: Round[] = []
  try {
    for (let round = 1; round <= o.repeat; round++) {
      const results: StackResult[] = []
      measured.push(results)
      const suffix = o.repeat > 1 ? `_r${round}` : ''
      const inRound = o.repeat > 1 ? ` (round ${round}/${o.repeat})` : ''
      for (const id of o.stacks.filter((s) => runsInRound(o, s, round))) {
        if (interrupted) throw new Error('interrupted')
        // with --cpu-prof, every round's profiles go to the stack's one folder (named by pid); the busiest is summarised
        results.push(await runStack(id, o, { fleet, dir: logDir, influxUrl: o.influxUrl, runId: `${runId}_${id.replace('-', '_')}${suffix}`, kafkaBrokers: o.kafkaBrokers, senshagenEnv, cpuProfDir: o.cpuProf ? join(logDir, 'profiles') : undefined, say }, influxdPid, inRound))
      }
    }
  } finally {
    rmSync(secretsDir, { recursive: true, force: true })
  }
  const results = aggregateRounds(measured)

  const median = o.repeat > 1 ? `median of ${o.repeat} rounds${nodeRedOnce ? ' (Node-RED: round 1 only)' : ''}; peak RSS and loss: the worst round` : ''
  if (median) console.log(`\n${median}; every round's figures in the .json and .md`)
  console.log(`\n${TABLE_HEADER}`)
  for (const stack of results) {
    if (stack.error) console.log(`${stack.id.padEnd(11)} FAILED: ${stack.error}`)
    for (const step of stack.steps) console.log(formatRow(stack.id, step))
  }
  console.log('')
  for (const line of ratioLines(results, o.rates)) console.log(line)
  if (o.repeat > 1) for (const line of ['', ...rangeLines(measured)]) console.log(line)
  const targets = evaluateTargets(results)
  console.log(`\ntargets (issue 9, on a quiet 2-core machine${median ? `; ${median}` : ''}):`)
  for (const t of targets) console.log(`  ${t.status.padEnd(5)} ${t.name}: ${t.detail}`)
  console.log('\nreadings/s: stored readings ÷ seconds from the first publish until the last was queryable. CPU s/1k and RSS: the stack\'s')
  console.log('own processes (Kafka mode: the JVM apart, in the JSON). Latency: publish → queryable, polled every ' + `${o.pollMs} ms (docs/benchmarks.md).`)

  const out = o.out ?? join('reports', `bench-${stamp}.json`)
  const perRound = o.repeat > 1 ? { rounds: measured.map((stacks, i) => ({ round: i + 1, stacks })) } : {}
  writeFileSync(out, JSON.stringify({ ...header, stacks: results, ...perRound, targets, logDir }, null, 2))
  const markdown = out.replace(/\.json$/, '') + '.md'
  writeFileSync(markdown, markdownReport(results, o.rates, targets, `Run of ${header.date} (${header.load.devices} devices, ${o.durationS} s per rate, load average at start ${header.machine.loadAverageAtStart.join(' ')})${median ? `; ${median}` : ''}${o.note ? `: ${o.note}` : ''}`, measured))
  say(`results: ${out} and ${markdown}`)
  if (o.cpuProf) printProfiles(join(logDir, 'profiles'))
}

/** One stack in one round: start it, warm up, each rate in turn, recount, stop; `inRound` tags its progress lines. */
async function runStack(id: StackId, o: BenchOptions, base: Omit<StackContext, 'database'>, influxdPid: number | undefined, inRound: string): Promise<StackResult> {
  const result: StackResult = { id, label: STACK_LABELS[id], steps: [] }
  const ctx: StackContext = { ...base, database: `bench_${base.runId}` }
  const influx = new InfluxBench(o.influxUrl, ctx.database)
  say(`── ${STACK_LABELS[id]}${inRound}`)
  await influx.createDatabase()
  pending.databases.add(influx)
  let stack: Awaited<ReturnType<typeof startStack>> | undefined
  let generator: TsChild<ToGenerator, FromGenerator> | undefined
  try {
    const t0 = Date.now()
    stack = await startStack(id, ctx)
    say(`${id}: server side up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${stack.processes.map((p) => `${p.name} pid ${p.pid}`).join(', ')})`)
    generator = new TsChild<ToGenerator, FromGenerator>(new URL('./load/generator.ts', import.meta.url), join(ctx.dir, `${id}-generator.log`))
    generator.send({ type: 'connect', host: stack.host, port: stack.port, devices: ctx.fleet.devices, concurrency: 20 })
    const connected = await generator.next('connected', 120_000)
    say(`${id}: ${o.devices} devices connected and logged in in ${(connected.ms / 1000).toFixed(1)} s`)
    const deps = { generator, generatorPid: generator.pid, influxdPid, stack, influx }
    const probes = { ids: [] as string[], indices: [] as number[] }
    for (const [i, d] of ctx.fleet.devices.entries()) if (i % 10 === 0) probes.ids.push(d.id), probes.indices.push(i)
    const settings = (step: number, rate: number, durationMs: number): StepSettings => ({ step, rate, durationMs, window: o.window, probes, pubackMeansDurable: id === 'direct' || id === 'kafka', pollMs: o.pollMs, settleMs: o.settleS * 1000, maxDrainMs: o.maxDrainS * 1000 })
    const warm = await runStep(deps, settings(0, WARMUP.rate, WARMUP.durationMs))
    if (warm.storedReadings === 0) throw new Error(`nothing of the warm-up (${warm.published} messages) became queryable; see the logs in ${ctx.dir}`)
    say(`${id}: warm-up ${WARMUP.rate} msg/s for ${WARMUP.durationMs / 1000} s: ${warm.storedReadings}/${warm.expectedReadings} readings stored`)
    let cool = { waitedS: 0, idle: true }
    for (const [i, rate] of o.rates.entries()) {
      say(`${id}: ${rate.toLocaleString('en-US')} msg/s for ${o.durationS} s${inRound} ...`)
      const step = await runStep(deps, settings(i + 1, rate, o.durationS * 1000))
      result.steps.push(step)
      console.log(formatRow(id, step))
      cool = await coolDown(stack, o.maxDrainS * 1000)
      if (cool.waitedS > 1.5) say(`${id}: waited ${cool.waitedS.toFixed(0)} s for the stack to idle${cool.idle ? '' : ' (still busy: the next rate starts on its backlog)'}`)
    }
    await recount(influx, result.steps, cool.idle)
  } catch (error) {
    result.error = (error as Error).message
    say(`${id}: FAILED: ${result.error}`)
  } finally {
    await generator?.stop({ type: 'close' })
    await stack?.stop().catch((error: Error) => say(`${id}: stopping failed: ${error.message}`))
    if (!o.keepData) await influx.dropDatabase().catch(() => {})
    pending.databases.delete(influx)
  }
  return result
}

/** Per stack, the summary of its busiest thread's profile (the main thread; tsx's loader thread idles). */
function printProfiles(dir: string): void {
  const folders = existsSync(dir) ? readdirSync(dir) : []
  for (const folder of folders) {
    const files = readdirSync(join(dir, folder))
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, folder, f))
    const busiest = files.map((file) => ({ file, busy: profileBusyMs(file) })).sort((a, b) => b.busy - a.busy)[0]
    if (!busiest) continue
    console.log(`\nCPU profile of ${folder}, main thread: ${busiest.file} (top self time)`)
    console.log(summariseProfile(busiest.file, 25))
  }
}

/** Ctrl-C: kill the children (stacks, Mosquittos, generator), drop the open databases (10 s at most), exit; a second Ctrl-C exits at once. */
let interrupted = false
process.on('SIGINT', () => {
  if (interrupted) process.exit(130)
  interrupted = true
  say('interrupted: stopping the stacks and dropping the run\'s databases ...')
  stopAllChildren()
  if (pending.secretsDir) rmSync(pending.secretsDir, { recursive: true, force: true })
  const drops = pending.keepData ? [] : [...pending.databases].map((db) => db.dropDatabase().catch(() => {}))
  void Promise.race([Promise.all(drops), new Promise((resolve) => setTimeout(resolve, 10_000))]).finally(() => process.exit(130))
})
main().then(
  () => process.exit(0),
  (error: Error) => {
    if (interrupted) return // the SIGINT handler exits once the databases are dropped
    console.error(`[bench] ${error.message}`)
    stopAllChildren()
    process.exit(1)
  },
)
