import { describe, expect, it } from 'vitest'
import { estimateS, parseOptions, type BenchOptions } from '../../bench/fleet/options.ts'
import { evaluateTargets, markdownReport, ratioLines, type StackResult } from '../../bench/fleet/report.ts'
import { aggregateRounds, rangeLines, roundRatios, type Round } from '../../bench/fleet/rounds.ts'
import type { StackId } from '../../bench/fleet/stacks/index.ts'
import type { StepResult } from '../../bench/fleet/step.ts'

/**
 * The fleet benchmark's aggregation over rounds (`npm run bench -- --repeat N`, bench/fleet/rounds.ts): fixed
 * per-round figures in, the medians, maxima and ranges written out here. The benchmark itself (real stacks) is
 * not part of `npm test`.
 */

const MB = 1024 * 1024

/** One step as a round measures it: 1,000 msg/s for 8 s, everything stored; `figures` overrides. */
function step(rate: number, figures: Partial<StepResult> = {}): StepResult {
  return {
    rate,
    durationS: 8,
    observedFromMs: 1_000,
    observedToMs: 9_000,
    published: 8_000,
    offeredPerS: rate,
    windowFull: 0,
    disconnected: 0,
    acked: 8_000,
    unacked: 0,
    expectedReadings: 40_000,
    storedReadings: 40_000,
    storedLater: 0,
    loss: 0,
    ackedNotStored: 0,
    pubackMeansDurable: true,
    storedPerS: 5_000,
    drainS: 0.2,
    drainTimedOut: false,
    latencyMs: { p50: 50, p99: 100, max: 150, samples: 800 },
    pubackMs: { p50: 2, p99: 4, max: 9 },
    cpuS: 1,
    cpuSPer1kReadings: 0.025,
    peakRssBytes: 200 * MB,
    processes: [{ name: 'senshagen direct', pid: 10, own: true, cpuS: 1, peakRssBytes: 200 * MB, peakFrom: 'VmHWM' }],
    others: [],
    maxTickGapMs: 5,
    bumped: 0,
    closedConnections: {},
    pollQueries: 80,
    pollQueryMsAvg: 3,
    loadAverage: [1, 1, 1],
    notes: [],
    ...figures,
  }
}

function stack(id: StackId, steps: StepResult[], error?: string): StackResult {
  return { id, label: id, steps, ...(error === undefined ? {} : { error }) }
}

/**
 * Three rounds of ceiling, Node-RED (round 1 only) and direct at 1k and 10k msg/s; the ceiling swings
 * (20,000 / 40,000 / 24,000 readings/s at 10k msg/s), direct less so (24,000 / 26,000 / 30,000), and loses 2 % at
 * 10k msg/s in round 2. The medians differ from the means, so a mean would fail the tests.
 */
function threeRounds(): Round[] {
  const ceiling = (sat: number) => stack('ceiling', [step(1000), step(10_000, { storedPerS: sat })])
  const direct = (sat: number, figures: Partial<StepResult> = {}) =>
    stack('direct', [step(1000), step(10_000, { storedPerS: sat, ...figures })])
  return [
    [
      ceiling(20_000),
      stack('node-red', [step(1000, { storedPerS: 4_000 }), step(10_000, { storedPerS: 5_000, loss: 0.4 })]),
      direct(24_000, { latencyMs: { p50: 300, p99: 900, max: 1_000, samples: 800 }, cpuSPer1kReadings: 0.030, peakRssBytes: 250 * MB }),
    ],
    [
      ceiling(40_000),
      direct(26_000, {
        latencyMs: { p50: 100, p99: 700, max: 2_000, samples: 800 },
        cpuSPer1kReadings: 0.020,
        peakRssBytes: 310 * MB,
        processes: [{ name: 'senshagen direct', pid: 20, own: true, cpuS: 1, peakRssBytes: 310 * MB, peakFrom: 'VmHWM' }],
        storedReadings: 39_200,
        loss: 0.02,
        notes: ['800 readings acknowledged (PUBACK) but never stored'],
        ackedNotStored: 800,
      }),
    ],
    [ceiling(24_000), direct(30_000, { latencyMs: { p50: 250, p99: 1_000, max: 1_200, samples: 800 }, cpuSPer1kReadings: 0.060, peakRssBytes: 260 * MB })],
  ]
}

describe('bench: aggregation over rounds', () => {
  it('reports per stack and rate the median readings/s, p50, p99 and CPU per 1k, the maximum RSS and loss', () => {
    const medians = aggregateRounds(threeRounds())
    expect(medians.map((s) => [s.id, s.rounds])).toEqual([
      ['ceiling', [1, 2, 3]],
      ['node-red', [1]],
      ['direct', [1, 2, 3]],
    ])
    const direct = medians.find((s) => s.id === 'direct')!.steps[1]!
    expect(direct.storedPerS).toBe(26_000)
    expect(direct.latencyMs).toEqual({ p50: 250, p99: 900, max: 2_000, samples: 2_400 })
    expect(direct.cpuSPer1kReadings).toBe(0.03)
    expect(direct.peakRssBytes).toBe(310 * MB)
    expect(direct.processes[0]!.pid).toBe(20)
    expect(direct.loss).toBe(0.02)
    expect(direct.ackedNotStored).toBe(800)
    expect(direct.expectedReadings).toBe(120_000)
    expect(direct.storedReadings).toBe(119_200)
    expect(direct.notes).toEqual(['loss per round: 1: 0.0 %, 2: 2.0 %, 3: 0.0 %', 'round 2: 800 readings acknowledged (PUBACK) but never stored'])
    expect(medians.find((s) => s.id === 'ceiling')!.steps[1]!.storedPerS).toBe(24_000)
  })

  it('keeps the single round of a stack that ran once (Node-RED) as it was measured', () => {
    const rounds = threeRounds()
    const nodeRed = aggregateRounds(rounds).find((s) => s.id === 'node-red')!
    expect(nodeRed.steps).toEqual(rounds[0]![1]!.steps)
  })

  it('takes the median of an even number of rounds as the mean of the middle two', () => {
    const medians = aggregateRounds(threeRounds().slice(0, 2))
    expect(medians.find((s) => s.id === 'ceiling')!.steps[1]!.storedPerS).toBe(30_000)
    expect(medians.find((s) => s.id === 'direct')!.steps[1]!.latencyMs.p99).toBe(800)
  })

  it('leaves out a step a failed round lacks, and names the round of the error', () => {
    const rounds = threeRounds()
    rounds[1]![1] = stack('direct', [step(1000, { storedPerS: 4_000 })], 'child 99 exited (SIGKILL)')
    const direct = aggregateRounds(rounds).find((s) => s.id === 'direct')!
    expect(direct.error).toBe('round 2: child 99 exited (SIGKILL)')
    expect(direct.steps[0]!.storedPerS).toBe(5_000)
    expect(direct.steps[1]!.storedPerS).toBe(27_000)
    expect(direct.steps[1]!.loss).toBe(0)
  })

  it('returns a single round unchanged', () => {
    const [round] = threeRounds()
    expect(aggregateRounds([round!])).toBe(round)
  })
})

describe('bench: ratios over rounds', () => {
  it('gives each ratio at saturation per round, Node-RED from its one round', () => {
    const ratios = roundRatios(threeRounds())
    expect(ratios.map((r) => `${r.stack}/${r.base}`)).toEqual(['node-red/ceiling', 'direct/ceiling', 'direct/node-red'])
    expect(ratios[0]!.perRound).toEqual([{ round: 1, ratio: 0.25 }])
    expect(ratios[1]!.perRound).toEqual([
      { round: 1, ratio: 1.2 },
      { round: 2, ratio: 0.65 },
      { round: 3, ratio: 1.25 },
    ])
    expect(ratios[2]!.perRound).toEqual([
      { round: 1, ratio: 4.8 },
      { round: 2, ratio: 5.2 },
      { round: 3, ratio: 6 },
    ])
  })

  it('skips a round in which one of the two stacks stored nothing', () => {
    const rounds = threeRounds()
    rounds[2]![0] = stack('ceiling', [], 'mosquitto exited with 1')
    expect(roundRatios(rounds)[1]!.perRound.map((r) => r.round)).toEqual([1, 2])
    expect(rangeLines(rounds)[2]).toMatch(/^direct \/ ceiling +0\.65–1\.20× +1\.20 \/ 0\.65 \/ -$/)
  })

  it('prints the range of each ratio over the rounds', () => {
    const lines = rangeLines(threeRounds())
    expect(lines[0]).toMatch(/^ratio at saturation +range over rounds +per round \(1 \/ 2 \/ 3\)$/)
    expect(lines[1]).toMatch(/^node-red \/ ceiling +0\.25–0\.25× +0\.25 \/ - \/ -$/)
    expect(lines[2]).toMatch(/^direct \/ ceiling +0\.65–1\.25× +1\.20 \/ 0\.65 \/ 1\.25$/)
    expect(lines[3]).toMatch(/^direct \/ node-red +4\.80–6\.00× +4\.80 \/ 5\.20 \/ 6\.00 +\(Node-RED: round 1\)$/)
  })

  it('computes the ratio table and the targets on the medians, memory on the worst round, loss in any round', () => {
    const medians = aggregateRounds(threeRounds())
    expect(ratioLines(medians, [1000, 10_000])[2]).toMatch(/^direct \/ ceiling +1\.00× +1\.08× +1\.08×$/)
    const targets = new Map(evaluateTargets(medians).map((t) => [t.name, t]))
    expect(targets.get('direct mode ≥ 0.8× the ceiling')).toMatchObject({ status: 'PASS', detail: '1.08× (26,000 vs 24,000 readings/s at saturation)' })
    expect(targets.get('direct mode ≥ 4× Node-RED')).toMatchObject({ status: 'PASS', detail: '5.20× (26,000 vs 5,000 readings/s at saturation)' })
    expect(targets.get('resident memory ≤ 300 MB at 10k msg/s (direct)')).toMatchObject({ status: 'FAIL', detail: 'peak 310 MB (senshagen direct 310)' })
    expect(targets.get('no loss at QoS 1 (direct)')).toMatchObject({
      status: 'FAIL',
      detail: '10,000 msg/s: 800 never stored, 800 acknowledged but not stored (sum over rounds 1, 2, 3)',
    })
  })
})

describe('bench: targets', () => {
  it('gives a ratio just under its target a third digit', () => {
    const results = [stack('ceiling', [step(5000, { storedPerS: 20_310 })]), stack('direct', [step(5000, { storedPerS: 16_206 })])]
    expect(evaluateTargets(results)[0]).toEqual({ name: 'direct mode ≥ 0.8× the ceiling', status: 'FAIL', detail: '0.798× (16,206 vs 20,310 readings/s at saturation)' })
  })
})

describe('bench: markdown report over rounds', () => {
  it('shows the median table, the ranges and one compact table per round', () => {
    const rounds = threeRounds()
    const md = markdownReport(aggregateRounds(rounds), [1000, 10_000], [], 'Run: median of 3 rounds', rounds)
    expect(md).toContain('| direct | 10,000 (10,000) | 26,000 | 2.0 % | 250 / 900 | 4 | 0.030 | 310 | loss per round: 1: 0.0 %, 2: 2.0 %, 3: 0.0 %; round 2: 800 readings acknowledged (PUBACK) but never stored |')
    expect(md).toMatch(/direct \/ ceiling +0\.65–1\.25×/)
    for (const r of [1, 2, 3]) expect(md).toContain(`Round ${r} of 3:`)
    expect(md).toContain('| direct | 10,000 (10,000) | 26,000 | 2.0 % | 100 / 700 | 4 | 0.020 | 310 |\n')
  })

  it('has no round tables for a single round', () => {
    const [round] = threeRounds()
    const md = markdownReport(round!, [1000, 10_000], [], 'Run', [round!])
    expect(md).not.toContain('Round 1')
    expect(md).not.toContain('range over rounds')
  })
})

describe('bench: --repeat', () => {
  it('parses the rounds and refuses a fraction', () => {
    expect(parseOptions(['--repeat', '3'])).toMatchObject({ repeat: 3, repeatNodeRed: false })
    expect(parseOptions(['--repeat', '2', '--repeat-node-red'])).toMatchObject({ repeat: 2, repeatNodeRed: true })
    expect(parseOptions([])).toMatchObject({ repeat: 1 })
    expect(() => parseOptions(['--repeat', '1.5'])).toThrow("--repeat: expected a whole number of rounds, got '1.5'")
    expect(() => parseOptions(['--repeat', '0'])).toThrow("--repeat: expected a positive number, got '0'")
  })

  it('estimates the run time per round, Node-RED once unless --repeat-node-red', () => {
    const o = (args: string[]) => parseOptions(['--stacks', 'ceiling,node-red', '--rates', '1000,5000', ...args]) as BenchOptions
    // ceiling: 15 + 2 × (8 + 4) = 39 s a round; Node-RED: 39 + min(1.2 × 60, 10 × 8) = 111 s
    expect(estimateS(o([]))).toBe(150)
    expect(estimateS(o(['--repeat', '3']))).toBe(3 * 39 + 111)
    expect(estimateS(o(['--repeat', '3', '--repeat-node-red']))).toBe(3 * 150)
    // --quick: ceiling 15 + 2 × (3 + 4) = 29 s; Node-RED 29 + min(1.2 × 30, 10 × 3) = 59 s
    expect(estimateS(o(['--quick', '--repeat', '2']))).toBe(2 * 29 + 59)
  })
})
