import { describe, expect, it } from 'vitest'
import { AckWindow } from '../../services/ingest/mqtt-ack-window.ts'

/** The ordered finaliser alone: handling finishes in any order, acknowledgements leave in arrival order. */
describe('AckWindow', () => {
  const recording = (size: number) => {
    const released: number[][] = []
    return { window: new AckWindow(size, (ids) => released.push(ids)), released }
  }

  it('releases packet ids in arrival order however the messages finish, several at once when a gap closes', () => {
    const { window, released } = recording(10)
    const slots = [11, 12, 13, 14, 15].map((id) => window.enter(id))
    slots[2]!.done()
    slots[1]!.done()
    expect(released).toEqual([])
    slots[0]!.done()
    expect(released).toEqual([[11, 12, 13]])
    slots[4]!.done()
    expect(released).toEqual([[11, 12, 13]])
    slots[3]!.done()
    expect(released).toEqual([[11, 12, 13], [14, 15]])
    expect(window.inFlight).toBe(0)
  })

  it('holds a slot for a QoS 0 message but has nothing to acknowledge for it (and says when it left)', () => {
    const { window, released } = recording(3)
    const qos0 = window.enter(undefined)
    const qos1 = window.enter(7)
    expect(window.inFlight).toBe(2)
    qos1.done()
    expect(released).toEqual([])
    qos0.done()
    expect(released).toEqual([[7]])
    // a QoS 0 message alone leaving frees a slot: the owner hears of it (to let a waiting message in)
    window.enter(undefined).done()
    expect(released).toEqual([[7], []])
    expect(window.inFlight).toBe(0)
  })

  it('is full at its size and refuses one more until a message leaves', () => {
    const { window } = recording(2)
    const first = window.enter(1)
    window.enter(2)
    expect(window.full).toBe(true)
    expect(() => window.enter(3)).toThrow('ack window full (2 messages in flight)')
    first.done()
    expect(window.full).toBe(false)
    window.enter(3)
    expect(window.inFlight).toBe(2)
  })

  it('never acknowledges a failed message nor anything after it', () => {
    const { window, released } = recording(5)
    const slots = [1, 2, 3].map((id) => window.enter(id))
    slots[0]!.done()
    slots[1]!.fail()
    slots[2]!.done()
    slots[1]!.done() // a late success does not undo the failure
    expect(released).toEqual([[1]])
    expect(window.blocked).toBe(true)
    expect(window.inFlight).toBe(2)
  })

  it('releases nothing after close (the packet ids belonged to the closed connection)', () => {
    const { window, released } = recording(5)
    const slot = window.enter(1)
    window.close()
    slot.done()
    expect(released).toEqual([])
  })

  it('keeps order over many messages finishing in reverse (compaction included)', () => {
    const { window, released } = recording(5_000)
    const slots = Array.from({ length: 3_000 }, (_, i) => window.enter(i + 1))
    for (let i = slots.length - 1; i >= 1; i--) slots[i]!.done()
    expect(released).toEqual([])
    slots[0]!.done()
    expect(released.flat()).toEqual(Array.from({ length: 3_000 }, (_, i) => i + 1))
    const next = Array.from({ length: 2_000 }, (_, i) => window.enter(i + 1))
    next.forEach((s) => s.done())
    expect(released.flat().length).toBe(5_000)
  })
})
