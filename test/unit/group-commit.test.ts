import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RefusedError, UnavailableError } from '../../core/errors.ts'
import { GroupCommit, type GroupCommitOptions } from '../../core/store/group-commit.ts'

/** One send the test settles by hand. */
interface Held {
  items: string[]
  release(): void
  fail(error: unknown): void
}

/**
 * A gated receiver: every send waits until the test releases or fails it (`held`), unless `mode` is 'pass'.
 * `refuse` makes any batch holding that item fail for good, as InfluxDB refuses a whole request for one bad point.
 */
function gated() {
  const held: Held[] = []
  const sent: string[][] = []
  let inFlight = 0
  const state = { mode: 'hold' as 'hold' | 'pass', refuse: new Set<string>(), peak: 0 }
  const send = (items: string[]): Promise<void> => {
    if (items.some((item) => state.refuse.has(item))) return Promise.reject(new RefusedError(`refused ${items.join(',')}`))
    if (state.mode === 'pass') {
      sent.push(items)
      return Promise.resolve()
    }
    inFlight++
    state.peak = Math.max(state.peak, inFlight)
    return new Promise<void>((resolve, reject) => {
      let settled = false
      const settle = (then: () => void) => {
        if (settled) return
        settled = true
        inFlight--
        then()
      }
      held.push({
        items,
        release: () => settle(() => (sent.push(items), resolve())),
        fail: (error) => settle(() => reject(error)),
      })
    })
  }
  return { held, sent, state, send, inFlight: () => inFlight }
}

function engine(receiver: ReturnType<typeof gated>, options: Partial<GroupCommitOptions<string>> = {}) {
  return new GroupCommit<string>({
    send: receiver.send,
    sizeOf: (item) => Number(/x(\d+)$/.exec(item)?.[1] ?? 1),
    maxBatchSize: 10,
    lingerMs: 0,
    maxInFlight: 1,
    maxBuffered: 1_000,
    retry: { initialDelayMs: 1, maxDelayMs: 5 },
    ...options,
  })
}

/** Records which submits resolved or rejected, in order. */
function track(promises: Array<Promise<void>>, names: string[]) {
  const done: string[] = []
  const failed: string[] = []
  const all = Promise.allSettled(promises.map((p, i) => p.then(() => void done.push(names[i]!), () => void failed.push(names[i]!))))
  return { done, failed, all }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))
async function until(check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 5_000; !check(); ) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}
const items = (n: number, prefix = 'i') => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

describe('group-commit engine', () => {
  it('gathers items into batches of at most maxBatchSize units and maxBatchItems items, whole items, in submit order', async () => {
    const receiver = gated()
    receiver.state.mode = 'pass'
    const bySize = engine(receiver, { maxBatchSize: 10 })
    await Promise.all(items(23).map((item) => bySize.submit(item)))
    expect(receiver.sent.map((b) => b.length)).toEqual([10, 10, 3])
    expect(receiver.sent.flat()).toEqual(items(23))

    receiver.sent.length = 0
    // units: a 4-unit item does not fit after 8 units and opens the next batch; a 25-unit item goes alone
    const mixed = engine(receiver, { maxBatchSize: 10, maxBatchItems: 3 })
    await Promise.all(['a', 'bx4', 'cx4', 'dx4', 'ex25', 'f', 'g', 'h', 'i'].map((item) => mixed.submit(item)))
    expect(receiver.sent).toEqual([['a', 'bx4', 'cx4'], ['dx4'], ['ex25'], ['f', 'g', 'h'], ['i']])
    expect(mixed.stats).toMatchObject({ batches: 5, items: 9, units: 1 + 4 + 4 + 4 + 25 + 4, requests: 5, retries: 0 })
  })

  it('with cut, fills every batch to maxBatchSize; an item spanning batches resolves when the last of them is acknowledged', async () => {
    const receiver = gated()
    // an item is "name:units"; cut takes units off its front
    const commit = engine(receiver, {
      sizeOf: (item) => Number(item.split(':')[1]),
      cut: (item, units) => {
        const [name, size] = item.split(':')
        return [`${name}:${units}`, `${name}:${Number(size) - units}`]
      },
      maxBatchSize: 5000,
      maxInFlight: 2,
      maxBuffered: 50_000,
    })
    const names = ['p0:4000', 'p1:4000', 'p2:4000', 'small:7']
    const result = track(names.map((item) => commit.submit(item)), names)
    await tick()
    expect(receiver.held.map((h) => h.items)).toEqual([['p0:4000', 'p1:1000'], ['p1:3000', 'p2:2000']])
    receiver.held[0]!.release()
    await tick()
    // p1 also rides in the second batch: only p0 is acknowledged
    expect(result.done).toEqual(['p0:4000'])
    expect(receiver.held[2]!.items).toEqual(['p2:2000', 'small:7'])
    receiver.held[2]!.release()
    await tick()
    // the third batch out of order: small was only there and resolves; p2 waits for the second batch too
    expect(result.done).toEqual(['p0:4000', 'small:7'])
    receiver.held[1]!.release()
    await result.all
    expect(result.done).toEqual(['p0:4000', 'small:7', 'p1:4000', 'p2:4000'])
    expect(commit.stats).toMatchObject({ batches: 3, units: 12_007 })
  })

  it('keeps maxInFlight batches in flight at once, no more, and resolves each item only when its own batch is acknowledged', async () => {
    const receiver = gated()
    const commit = engine(receiver, { maxBatchSize: 2, maxInFlight: 3 })
    const names = items(10)
    const result = track(names.map((item) => commit.submit(item)), names)
    await tick()
    // three batches of two are in the receiver at once; the other four items wait for a free lane
    expect(receiver.held.map((h) => h.items)).toEqual([['i0', 'i1'], ['i2', 'i3'], ['i4', 'i5']])
    expect(receiver.inFlight()).toBe(3)

    // the second batch is acknowledged first: only its items resolve, and a lane frees for the next batch
    receiver.held[1]!.release()
    await tick()
    expect(result.done).toEqual(['i2', 'i3'])
    expect(receiver.held.map((h) => h.items).slice(3)).toEqual([['i6', 'i7']])
    expect(receiver.inFlight()).toBe(3)

    receiver.held[0]!.release()
    await tick()
    expect(result.done).toEqual(['i2', 'i3', 'i0', 'i1'])
    while (result.done.length < 10) {
      for (const h of receiver.held) h.release()
      await tick()
    }
    expect(result.done.sort()).toEqual([...names].sort())
    expect(receiver.state.peak).toBe(3)
    expect(commit.stats.peakInFlight).toBe(3)
  })

  it('opens a further lane only for a full batch: a partial one waits for the batch in flight', async () => {
    const receiver = gated()
    const commit = engine(receiver, { maxBatchSize: 10, maxInFlight: 3 })
    const all = [commit.submit('a')]
    await tick()
    expect(receiver.held.map((h) => h.items)).toEqual([['a']])
    all.push(commit.submit('b'), commit.submit('c'))
    await tick()
    await tick()
    expect(receiver.held).toHaveLength(1) // light load: one request at a time, the next one gathers
    all.push(...items(10, 'f').map((item) => commit.submit(item)))
    await tick()
    expect(receiver.held.map((h) => h.items)).toEqual([['a'], ['b', 'c', 'f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7']])
    receiver.held[0]!.release()
    await tick()
    expect(receiver.held.map((h) => h.items)[2]).toEqual(['f8', 'f9'])
    for (const h of receiver.held) h.release()
    await Promise.all(all)
  })

  it('with maxInFlight 1 sends one batch at a time and resolves in submit order', async () => {
    const receiver = gated()
    const commit = engine(receiver, { maxBatchSize: 3 })
    const names = items(7)
    const result = track(names.map((item) => commit.submit(item)), names)
    for (let i = 0; i < 3; i++) {
      await tick()
      expect(receiver.inFlight()).toBe(1)
      receiver.held[i]!.release()
    }
    await result.all
    expect(result.done).toEqual(names)
    expect(receiver.state.peak).toBe(1)
  })

  it('waits lingerMs for more items when a lane is free, but sends a full batch at once', async () => {
    const receiver = gated()
    receiver.state.mode = 'pass'
    const commit = engine(receiver, { maxBatchSize: 4, lingerMs: 80 })
    const startedAt = Date.now()
    const first = commit.submit('a')
    await tick()
    await tick()
    expect(receiver.sent).toEqual([]) // with lingerMs 0 it would have gone by now
    const second = commit.submit('b')
    await Promise.all([first, second])
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(75)
    expect(receiver.sent).toEqual([['a', 'b']])

    const full = Promise.all(['c', 'd', 'e', 'f'].map((item) => commit.submit(item)))
    await tick()
    expect(receiver.sent).toEqual([['a', 'b'], ['c', 'd', 'e', 'f']])
    await full
  })

  it('retries a batch that failed with a retriable error until it is acknowledged', async () => {
    const receiver = gated()
    const commit = engine(receiver)
    const retries: number[] = []
    commit.on('retry', (error, attempt) => (expect(error).toBeInstanceOf(UnavailableError), retries.push(attempt)))
    let resolved = false
    const pending = commit.submit('a').then(() => (resolved = true))
    await tick()
    receiver.held[0]!.fail(new UnavailableError('down'))
    await until(() => receiver.held.length === 2)
    receiver.held[1]!.fail(new UnavailableError('still down'))
    await until(() => receiver.held.length === 3)
    expect(resolved).toBe(false)
    receiver.held[2]!.release()
    await pending
    expect(retries).toEqual([1, 2])
    expect(commit.stats).toMatchObject({ requests: 3, retries: 2, batches: 1, items: 1 })
  })

  it('without onRefused, rejects the items of a batch refused for good and goes on with the next', async () => {
    const receiver = gated()
    receiver.state.mode = 'pass'
    receiver.state.refuse.add('b')
    const commit = engine(receiver, { maxBatchSize: 2 })
    const result = track(['a', 'b', 'c'].map((item) => commit.submit(item)), ['a', 'b', 'c'])
    await result.all
    expect(result.failed).toEqual(['a', 'b'])
    expect(result.done).toEqual(['c'])
    expect(commit.stats).toMatchObject({ retries: 0, refused: 0 })
  })

  it('splits a refused batch until the refused items stand alone, stores the rest, and stores the substitute in their place', async () => {
    const receiver = gated()
    receiver.state.mode = 'pass'
    receiver.state.refuse.add('i5')
    const substitutes: string[] = []
    const commit = engine(receiver, {
      maxBatchSize: 64,
      onRefused: (item, error) => (expect(error).toBeInstanceOf(RefusedError), substitutes.push(item), `instead-of-${item}`),
    })
    const names = items(64)
    const result = track(names.map((item) => commit.submit(item)), names)
    await result.all
    expect(result.done.sort()).toEqual([...names].sort())
    expect(substitutes).toEqual(['i5'])
    const stored = receiver.sent.flat()
    expect(stored.sort()).toEqual([...names.filter((n) => n !== 'i5'), 'instead-of-i5'].sort())
    // halving 64 → 32 + 32 → … → 1 + 1 takes two requests a level, not one per item
    expect(commit.stats).toMatchObject({ refused: 1, lost: 0, retries: 0 })
    expect(commit.stats.requests).toBeLessThanOrEqual(1 + 2 * 6 + 1)
  })

  it('halves a lone refused item with split down to single units, and counts what cannot be stored at all as lost', async () => {
    const receiver = gated()
    receiver.state.mode = 'pass'
    // an item is a comma-separated list of units; unit "bad" is refused, and so is its substitute
    const send = (batch: string[]) => (batch.join(',').split(',').some((u) => u === 'bad' || u === 'sub-bad') ? Promise.reject(new RefusedError('no')) : receiver.send(batch))
    const lost: string[] = []
    const commit = engine(receiver, {
      send,
      sizeOf: (item) => item.split(',').length,
      maxBatchSize: 100,
      split: (item) => {
        const units = item.split(',')
        return units.length < 2 ? undefined : [units.slice(0, units.length >> 1).join(','), units.slice(units.length >> 1).join(',')]
      },
      onRefused: (item) => `sub-${item}`,
    })
    commit.on('lost', (item) => lost.push(item))
    await commit.submit('u1,u2,u3,bad,u5,u6,u7')
    expect(receiver.sent.flat().join(',').split(',').sort()).toEqual(['u1', 'u2', 'u3', 'u5', 'u6', 'u7'])
    expect(lost).toEqual(['bad'])
    expect(commit.stats).toMatchObject({ refused: 1, lost: 1 })
  })

  it('bounds what is buffered: further submits wait in order, and enter the queue in submit order', async () => {
    const receiver = gated()
    const commit = engine(receiver, { maxBatchSize: 4, maxInFlight: 2, maxBuffered: 10 })
    const names = items(30)
    let peak = 0
    const result = track(names.map((item) => commit.submit(item)), names)
    while (result.done.length < 30) {
      await tick()
      peak = Math.max(peak, commit.bufferedCount)
      expect(receiver.inFlight()).toBeLessThanOrEqual(2)
      for (const h of receiver.held) h.release()
    }
    await result.all
    expect(peak).toBeLessThanOrEqual(10)
    expect(peak).toBeGreaterThan(4)
    expect(commit.stats.backpressureWaits).toBe(20)
    // nothing overtook: batches are formed in submit order
    expect(receiver.sent.flat()).toEqual(names)
    expect(commit.bufferedCount).toBe(0)

    // a small item that would fit does not overtake a larger one waiting before it
    receiver.sent.length = 0
    receiver.held.length = 0
    const fifo = track(['ax8', 'bx5', 'c'].map((item) => commit.submit(item)), ['ax8', 'bx5', 'c'])
    await tick()
    expect(receiver.held.map((h) => h.items)).toEqual([['ax8']])
    receiver.held[0]!.release()
    await tick()
    expect(receiver.held.map((h) => h.items)).toEqual([['ax8'], ['bx5'], ['c']])
    for (const h of receiver.held) h.release()
    await fifo.all
    expect(fifo.done).toEqual(['ax8', 'bx5', 'c'])
  })

  it('lets an item larger than maxBuffered in alone once nothing else is buffered', async () => {
    const receiver = gated()
    receiver.state.mode = 'pass'
    const commit = engine(receiver, { maxBatchSize: 100, maxBuffered: 10 })
    await Promise.all(['a', 'bx50', 'c'].map((item) => commit.submit(item)))
    expect(receiver.sent).toEqual([['a'], ['bx50'], ['c']])
  })

  it('resolves an item only once every unit of it was acknowledged, whatever the lanes, cuts, limits and retries', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          sizes: fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 60 }),
          maxInFlight: fc.integer({ min: 1, max: 4 }),
          maxBatchSize: fc.integer({ min: 1, max: 40 }),
          extraBuffer: fc.integer({ min: 0, max: 60 }),
          withCut: fc.boolean(),
          failures: fc.array(fc.boolean(), { maxLength: 20 }),
        }),
        async ({ sizes, maxInFlight, maxBatchSize, extraBuffer, withCut, failures }) => {
          type Units = number[]
          const acknowledged = new Set<number>()
          let next = 0
          let inFlight = 0
          let peak = 0
          const commit = new GroupCommit<Units>({
            send: async (batch) => {
              peak = Math.max(peak, ++inFlight)
              await tick()
              inFlight--
              if (failures.shift()) throw new UnavailableError('flaky')
              for (const units of batch) for (const unit of units) acknowledged.add(unit)
            },
            sizeOf: (units) => units.length,
            cut: withCut ? (units, n) => [units.slice(0, n), units.slice(n)] : undefined,
            maxBatchSize,
            lingerMs: 0,
            maxInFlight,
            maxBuffered: maxBatchSize * maxInFlight + extraBuffer,
            retry: { initialDelayMs: 1, maxDelayMs: 1 },
          })
          const early: number[] = []
          await Promise.all(
            sizes.map((size) => {
              const units = Array.from({ length: size }, () => next++)
              return commit.submit([...units]).then(() => early.push(...units.filter((u) => !acknowledged.has(u))))
            }),
          )
          expect(early).toEqual([])
          expect(acknowledged.size).toBe(next)
          expect(peak).toBeLessThanOrEqual(maxInFlight)
          expect(commit.bufferedCount).toBe(0)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('close rejects what is queued or waiting, ends the retries of batches in flight, and refuses new submits', async () => {
    const receiver = gated()
    const commit = engine(receiver, { maxBatchSize: 2, maxBuffered: 4 })
    const names = items(8)
    const result = track(names.map((item) => commit.submit(item)), names)
    await tick()
    // i0,i1 in flight and failing; i2,i3 queued; i4..i7 waiting for room
    receiver.held[0]!.fail(new UnavailableError('down'))
    await until(() => receiver.held.length === 2) // retried
    commit.close()
    // a request in flight is not cut off; when it fails now, there is no further retry
    receiver.held[1]!.fail(new UnavailableError('down'))
    await result.all
    expect(result.done).toEqual([])
    expect(result.failed.sort()).toEqual([...names].sort())
    await expect(commit.submit('late')).rejects.toThrow(/closed/)
    expect(receiver.sent).toEqual([])
  })

  it('drain sends the lingering batch at once and resolves with 0 once queued, in-flight and waiting items are all acknowledged', async () => {
    const receiver = gated()
    const commit = engine(receiver, { maxBatchSize: 2, maxBuffered: 4, lingerMs: 60_000 })
    const names = items(7)
    const result = track(names.map((item) => commit.submit(item)), names)
    await tick()
    // i0,i1 form a full batch and go; i2,i3 queued and lingering (a minute); i4..i6 wait for room
    expect(receiver.held.map((h) => h.items)).toEqual([['i0', 'i1']])
    let left: number | undefined
    const draining = commit.drain(Date.now() + 5_000).then((n) => (left = n))
    receiver.held[0]!.release()
    await until(() => receiver.held.length === 2)
    expect(receiver.held[1]!.items).toEqual(['i2', 'i3']) // not held back by the linger
    receiver.held[1]!.release()
    await until(() => receiver.held.length === 3)
    expect(left).toBeUndefined() // i4..i6 still unacknowledged
    receiver.held[2]!.release()
    await until(() => receiver.held.length === 4)
    receiver.held[3]!.release()
    await draining
    expect(left).toBe(0)
    await result.all
    expect(result.done).toEqual(names)
  })

  it('drain resolves at the deadline with the units still unacknowledged', async () => {
    const receiver = gated()
    const commit = engine(receiver, { maxBatchSize: 10, maxBuffered: 1_000 })
    const result = track([commit.submit('a-x3'), commit.submit('b-x4')], ['a', 'b'])
    await tick()
    expect(await commit.drain(Date.now() + 50)).toBe(7)
    commit.close()
    receiver.held[0]!.release()
    await result.all
    expect(await commit.drain(Date.now() + 50)).toBe(0)
  })
})
