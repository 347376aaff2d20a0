import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import type { Rejection } from '../../core/reading.ts'
import { FirstReceipts, withFirstReceipts } from '../../core/store/first-receipt.ts'
import { MemoryStore } from '../../core/store/memory-store.ts'
import type { ReadingStore } from '../../core/store/store.ts'

/**
 * A rejection without an observed time is timed at receipt; the same message received again (a device's resend
 * after a restart of ours) must land on the first point, also when the first was written by another process
 * (here: another FirstReceipts over the same store, as a restarted ingest or writer would be).
 */
const logger = createLogger('silent')
const T1 = Date.UTC(2026, 11, 1, 22, 0, 0)
const T2 = T1 + 7_000 // the resend after the restart

function brokenJson(receivedAt: number, raw = '{"v":1,"readings":{"pm10":'): Rejection {
  return { deviceId: 'fr-dev', topic: 'senshagen/v1/devices/fr-dev/readings', sourceFormat: 'native-v1', receivedAt, path: '$', rule: 'json', message: 'Unexpected end of JSON input', raw }
}

const rejectionTimes = async (store: MemoryStore) => (await store.queryRejections({})).map((r) => r.time)

describe('FirstReceipts', () => {
  it('gives a resend seen by a restarted writer the first receipt time, so the store keeps one point', async () => {
    const store = new MemoryStore()
    await withFirstReceipts(store, logger).write({ readings: [], rejections: [brokenJson(T1)] })
    // a new process: nothing in memory, the first point only in the store
    await withFirstReceipts(store, logger).write({ readings: [], rejections: [brokenJson(T2)] })
    expect(await rejectionTimes(store)).toEqual([T1])
  })

  it('without it, the same resend is a second point (what the fault matrix found)', async () => {
    const store = new MemoryStore()
    await store.write({ readings: [], rejections: [brokenJson(T1)] })
    await store.write({ readings: [], rejections: [brokenJson(T2)] })
    expect(await rejectionTimes(store)).toEqual([T1, T2])
  })

  it('keeps different messages apart and leaves rejections with an observed time alone', async () => {
    const store = new MemoryStore()
    const receipts = new FirstReceipts(store, logger)
    await store.write({ readings: [], rejections: [brokenJson(T1)] })
    const observed: Rejection = { ...brokenJson(T2), rule: 'range', path: 'readings.relative_humidity', value: 150, observedAt: T1 - 60_000 }
    const batch = { readings: [], rejections: [brokenJson(T2, '{"v":1,"readings":{"pm2_5":'), observed, brokenJson(T2)] }
    const retimed = await receipts.retime(batch)
    expect(retimed.rejections.map((r) => r.receivedAt)).toEqual([T2, T2, T1])
    expect(retimed.rejections[1]).toBe(observed)
  })

  it('uses the earlier of two receipts in one batch and returns an unchanged batch as it is', async () => {
    const receipts = new FirstReceipts(new MemoryStore(), logger)
    const retimed = await receipts.retime({ readings: [], rejections: [brokenJson(T1), brokenJson(T2)] })
    expect(retimed.rejections.map((r) => r.receivedAt)).toEqual([T1, T1])
    const alone = { readings: [], rejections: [brokenJson(T1)] }
    expect(await receipts.retime(alone)).toBe(alone)
  })

  it('forgets stored rejections older than the window', async () => {
    const store = new MemoryStore()
    await store.write({ readings: [], rejections: [brokenJson(T1)] })
    const receipts = new FirstReceipts(store, logger, { windowMs: 5_000, now: () => T1 + 10_000 })
    expect((await receipts.retime({ readings: [], rejections: [brokenJson(T2)] })).rejections[0]!.receivedAt).toBe(T2)
  })

  it('writes with the own receipt time, and warns, when the store cannot be read back', async () => {
    const lines: string[] = []
    const warnLogger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) })
    const failing = { queryRejections: () => Promise.reject(new Error('InfluxDB down')) } as unknown as Pick<ReadingStore, 'queryRejections'>
    const retimed = await new FirstReceipts(failing, warnLogger).retime({ readings: [], rejections: [brokenJson(T2)] })
    expect(retimed.rejections[0]!.receivedAt).toBe(T2)
    expect(lines.join('')).toContain('could not read back stored rejections')
  })
})
