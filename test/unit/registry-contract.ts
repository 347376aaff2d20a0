import { pbkdf2Sync } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { StoreOptions } from '../../core/registry/device-rules.ts'
import { RegistryError, type DeviceRecord, type NewDevice, type RegistryStore } from '../../core/registry/store.ts'

/**
 * The one suite every RegistryStore implementation passes (STYLE "Tests": aedes-persistence's abstract tests).
 * test/unit/registry-store.test.ts runs it against SQLite and PostgreSQL.
 */

export interface ContractSubject {
  store: RegistryStore
  /** Everything the store holds as text (raw file bytes, or every row of every table), to show no secret is in it. */
  raw(): Promise<string>
  /** Releases what `open` made (closes the store if still open, removes files or the database). */
  dispose(): Promise<void>
}

/** `open` makes a fresh, empty store whose clock is `options.now`. `skip`: why the suite cannot run here. */
export function registryContract(name: string, open: (options: StoreOptions) => Promise<ContractSubject>, skip?: string): void {
  const suite = skip === undefined ? describe : describe.skip
  suite(skip === undefined ? `RegistryStore contract: ${name}` : `RegistryStore contract: ${name} (${skip})`, () => {
    let clock = 0
    let subject: ContractSubject
    let store: RegistryStore
    const stadshagen = { id: 'stadshagen', name: 'Stadshagen', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 }, radiusM: 1500 }
    const archief = { id: 'archief', name: 'Archief', municipality: 'sensor.community archive', center: { lat: 57.1497, lon: -2.0943 }, radiusM: 50_000 }
    const garden = (over: Partial<NewDevice> = {}): NewDevice => ({ id: 'sim-000', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 }, ...over })
    const at = async <T>(ms: number, action: () => Promise<T>): Promise<T> => {
      clock = ms
      return action()
    }
    const refusal = async (action: () => Promise<unknown>): Promise<string> => {
      try {
        await action()
      } catch (error) {
        expect(error).toBeInstanceOf(RegistryError)
        expect((error as RegistryError).retriable).toBe(false)
        return (error as Error).message
      }
      throw new Error('expected a RegistryError, got none')
    }

    beforeEach(async () => {
      clock = 1_000
      subject = await open({ now: () => clock })
      store = subject.store
      await store.upsertNeighbourhood(stadshagen)
      await store.upsertNeighbourhood(archief)
    })

    afterEach(async () => {
      await subject.dispose()
    })

    it('starts empty but for the neighbourhoods, sorted by id; an upsert replaces by id, radiusM defaults to 1000', async () => {
      expect(await store.devices()).toEqual([])
      expect(await store.serviceRoles()).toEqual([])
      expect(await store.mosquittoPasswordEntries()).toEqual([])
      expect(await store.neighbourhoods()).toEqual([archief, stadshagen])
      await store.upsertNeighbourhood({ id: 'archief', name: 'Archive', municipality: 'x', center: { lat: 57, lon: -2 } } as never)
      expect(await store.neighbourhoods()).toEqual([{ id: 'archief', name: 'Archive', municipality: 'x', center: { lat: 57, lon: -2 }, radiusM: 1000 }, stadshagen])
      expect(await refusal(() => store.upsertNeighbourhood({ ...stadshagen, id: 'Bad Id', center: { lat: 91, lon: 0 } }))).toBe(
        "invalid neighbourhood 'Bad Id': id: must be 1-63 chars of [a-z0-9_-], starting with a letter or digit; center.lat: Too big: expected number to be <=90",
      )
    })

    it('adds a device, hands out its secret once, and keeps every field exactly', async () => {
      const issued = await at(5_000, () =>
        store.addDevice({ id: 'garden-7', neighbourhood: 'stadshagen', consent: true, consentAt: 4_000, format: 'airrohr', nativeId: 'esp8266-3141592', location: { lat: 52.5288, lon: 6.0633 }, coarsen: 'neighbourhood', sensorModels: ['SDS011', 'BME280'], note: 'form in cabinet 3' }),
      )
      expect(issued.id).toBe('garden-7')
      expect(issued.username).toBe('garden-7')
      expect(issued.secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const expected: DeviceRecord = {
        id: 'garden-7',
        format: 'airrohr',
        nativeId: 'esp8266-3141592',
        neighbourhood: 'stadshagen',
        location: { lat: 52.5288, lon: 6.0633 },
        coarsen: 'neighbourhood',
        consent: true,
        consentAt: 4_000,
        sensorModels: ['SDS011', 'BME280'],
        note: 'form in cabinet 3',
        createdAt: 5_000,
        updatedAt: 5_000,
      }
      expect(await store.device('garden-7')).toStrictEqual(expected)
      expect(await store.devices()).toStrictEqual([expected])
      expect(await store.device('garden-8')).toBeUndefined()
      // minimal entry: the defaults
      await at(6_000, () => store.addDevice({ id: 'sim-009', neighbourhood: 'stadshagen', consent: false, location: { lat: 52.5277, lon: 6.0476 } }))
      expect(await store.device('sim-009')).toStrictEqual({
        id: 'sim-009', format: 'native', nativeId: 'sim-009', neighbourhood: 'stadshagen', location: { lat: 52.5277, lon: 6.0476 },
        coarsen: 'grid', consent: false, sensorModels: [], createdAt: 6_000, updatedAt: 6_000,
      })
      // without a location: published at the neighbourhood centre; consentAt defaults to now
      await at(7_000, () => store.addDevice({ id: 'esphome-attic', neighbourhood: 'stadshagen', consent: true }))
      expect(await store.device('esphome-attic')).toStrictEqual({
        id: 'esphome-attic', format: 'esphome', nativeId: 'attic', neighbourhood: 'stadshagen', coarsen: 'neighbourhood',
        consent: true, consentAt: 7_000, sensorModels: [], createdAt: 7_000, updatedAt: 7_000,
      })
    })

    it('lists devices sorted by id (code-point order), revoked ones included', async () => {
      await Promise.all(['sim-001', 'sc-92', 'Garden-B', 'garden-a', 'sc-5331'].map((id) => store.addDevice(garden({ id }))))
      await store.revoke('sc-92')
      expect((await store.devices()).map((d) => d.id)).toEqual(['Garden-B', 'garden-a', 'sc-5331', 'sc-92', 'sim-001'])
    })

    it('derives format and native identity from the id prefix', async () => {
      const ids = ['tasmota-shed', 'esphome-attic', 'ttn:senshagen-app:node-7', 'airrohr-esp8266-3141592', 'osem-5b2a8d7c9f1e2a001b3c4d5e', 'wow-a1b2c3', 'wu-izwoll12', 'ecowitt-0a1b2c3d4e5f', 'mjs-731', 'sc-5331', 'sim-000', 'garden-1']
      await Promise.all(ids.map((id) => store.addDevice(garden({ id }))))
      const identity = Object.fromEntries((await store.devices()).map((d) => [d.id, [d.format, d.nativeId]]))
      expect(identity).toEqual({
        'tasmota-shed': ['tasmota', 'shed'],
        'esphome-attic': ['esphome', 'attic'],
        'ttn:senshagen-app:node-7': ['ttn', 'senshagen-app/node-7'],
        'airrohr-esp8266-3141592': ['airrohr', 'esp8266-3141592'],
        'osem-5b2a8d7c9f1e2a001b3c4d5e': ['opensensemap', '5b2a8d7c9f1e2a001b3c4d5e'],
        'wow-a1b2c3': ['wow', 'a1b2c3'],
        'wu-izwoll12': ['wu', 'izwoll12'],
        'ecowitt-0a1b2c3d4e5f': ['ecowitt', '0a1b2c3d4e5f'],
        'mjs-731': ['meetjestad', '731'],
        'sc-5331': ['sensor.community', '5331'],
        'sim-000': ['native', 'sim-000'],
        'garden-1': ['native', 'garden-1'],
      })
      // a given format without its prefix keeps the id as native identity; a given nativeId wins
      await store.addDevice(garden({ id: 'shed-sensor', format: 'tasmota' }))
      await store.addDevice(garden({ id: 'tasmota-kitchen', nativeId: 'Kitchen_1' }))
      expect((await store.device('shed-sensor'))!.nativeId).toBe('shed-sensor')
      expect(await store.device('tasmota-kitchen')).toMatchObject({ format: 'tasmota', nativeId: 'Kitchen_1' })
    })

    it('refuses bad devices with the field and rule named, and stores nothing', async () => {
      await store.addDevice(garden())
      expect(await refusal(() => store.addDevice(garden()))).toBe("device 'sim-000' already exists (ids are never reused, also after revoke)")
      expect(await refusal(() => store.addDevice(garden({ id: 'sim-001', neighbourhood: 'nowhere' })))).toBe("invalid device 'sim-001': neighbourhood: no neighbourhood 'nowhere' in the registry")
      expect(await refusal(() => store.addDevice(garden({ id: '_ingest' })))).toBe("invalid device '_ingest': id: device id must be 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric")
      expect(await refusal(() => store.addDevice(garden({ id: 'neighbourhood:stadshagen' })))).toBe(
        "invalid device 'neighbourhood:stadshagen': id: must not start with neighbourhood: (reserved for neighbourhood aggregates in CSV)",
      )
      expect(await refusal(() => store.addDevice(garden({ id: 'g1', location: { lat: 95, lon: 6 } })))).toBe("invalid device 'g1': location.lat: Too big: expected number to be <=90")
      expect(await refusal(() => store.addDevice(garden({ id: 'g2', location: { lat: 52, lon: -181 } })))).toBe("invalid device 'g2': location.lon: Too small: expected number to be >=-180")
      expect(await refusal(() => store.addDevice(garden({ id: 'g3', coarsen: 'neighbourhood', location: { lat: 52.6, lon: 6.06 } })))).toBe(
        "invalid device 'g3': location: lies outside neighbourhood 'stadshagen' (more than radiusM 1500 m from its center)",
      )
      expect(await refusal(() => store.addDevice({ id: 'g4', neighbourhood: 'stadshagen', consent: true, coarsen: 'grid' }))).toBe(
        "invalid device 'g4': coarsen: 'grid' needs a location (without one the device is published at its neighbourhood's centre: coarsen 'neighbourhood')",
      )
      expect(await refusal(() => store.addDevice(garden({ id: 'g5', consent: false, consentAt: 5 })))).toBe("invalid device 'g5': consentAt: must be absent when consent is false")
      expect(await refusal(() => store.addDevice({ ...garden({ id: 'g6' }), consnet: true } as NewDevice))).toBe("invalid device 'g6': Unrecognized key: \"consnet\"")
      expect(await refusal(() => store.addDevice({ id: 'g7', neighbourhood: 'stadshagen' } as NewDevice))).toBe("invalid device 'g7': consent: Invalid input: expected boolean, received undefined")
      expect(await refusal(() => store.addDevice(garden({ id: 'tasmota-x', nativeId: '+' })))).toBe(
        "invalid device 'tasmota-x': nativeId: '+' must be 1-100 chars of [A-Za-z0-9_.:-] (it becomes part of MQTT topic filters)",
      )
      expect(await refusal(() => store.addDevice(garden({ id: 'g8', format: 'ttn' })))).toBe(
        "invalid device 'g8': nativeId: 'g8' must be <application>/<device>, each 1-100 chars of [A-Za-z0-9_.-] (it becomes part of MQTT topic filters)",
      )
      expect((await store.devices()).map((d) => d.id)).toEqual(['sim-000'])
    })

    it('keeps native identities unique among active devices of a format; a revoked one frees its identity, never its id', async () => {
      await at(2_000, () => store.addDevice(garden({ id: 'tasmota-shed' })))
      expect(await refusal(() => store.addDevice(garden({ id: 'shed-2', format: 'tasmota', nativeId: 'shed' })))).toBe(
        "nativeId: 'shed' is already the identity of active tasmota device 'tasmota-shed' (two devices would share its topics)",
      )
      await store.addDevice(garden({ id: 'esphome-shed', format: 'esphome', nativeId: 'shed' })) // another format: other topics
      await at(3_000, () => store.revoke('tasmota-shed'))
      expect(await store.deviceByNativeId('tasmota', 'shed')).toMatchObject({ id: 'tasmota-shed', revokedAt: 3_000 }) // only a revoked one
      await at(4_000, () => store.addDevice(garden({ id: 'shed-2', format: 'tasmota', nativeId: 'shed' })))
      expect(await store.deviceByNativeId('tasmota', 'shed')).toMatchObject({ id: 'shed-2', createdAt: 4_000 }) // the active one wins
      expect(await refusal(() => store.addDevice(garden({ id: 'tasmota-shed' })))).toBe("device 'tasmota-shed' already exists (ids are never reused, also after revoke)")
    })

    it('decides a race between two registrations of one id in the schema: exactly one wins', async () => {
      const results = await Promise.allSettled([store.addDevice(garden({ id: 'twin' })), store.addDevice(garden({ id: 'twin' }))])
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect(rejected.reason).toBeInstanceOf(RegistryError)
      expect(rejected.reason.message).toBe("device 'twin' already exists (ids are never reused, also after revoke)")
      const winner = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ secret: string }>).value
      expect(await store.authenticate('twin', winner.secret)).toMatchObject({ kind: 'device', username: 'twin' })
    })

    it('finds a device by its native identity and format', async () => {
      await store.addDevice(garden({ id: 'ttn:senshagen-app:node-7' }))
      await store.addDevice(garden({ id: 'airrohr-esp8266-3141592' }))
      expect((await store.deviceByNativeId('ttn', 'senshagen-app/node-7'))!.id).toBe('ttn:senshagen-app:node-7')
      expect((await store.deviceByNativeId('airrohr', 'esp8266-3141592'))!.id).toBe('airrohr-esp8266-3141592')
      expect(await store.deviceByNativeId('airrohr', 'esp8266-0')).toBeUndefined()
      expect(await store.deviceByNativeId('tasmota', 'esp8266-3141592')).toBeUndefined()
    })

    it('authenticates the right secret only: wrong, unknown, revoked, other device and empty all answer undefined', async () => {
      const a = await at(2_000, () => store.addDevice(garden({ id: 'tasmota-shed' })))
      const b = await store.addDevice(garden({ id: 'sim-001' }))
      expect(await store.authenticate('tasmota-shed', a.secret)).toStrictEqual({ kind: 'device', username: 'tasmota-shed', device: await store.device('tasmota-shed') })
      expect(await store.authenticate('tasmota-shed', b.secret)).toBeUndefined()
      expect(await store.authenticate('tasmota-shed', `${a.secret}x`)).toBeUndefined()
      expect(await store.authenticate('tasmota-shed', a.secret.slice(0, -1))).toBeUndefined()
      expect(await store.authenticate('tasmota-shed', '')).toBeUndefined()
      expect(await store.authenticate('TASMOTA-SHED', a.secret)).toBeUndefined()
      expect(await store.authenticate('tasmota-shed', undefined as never)).toBeUndefined() // no password in CONNECT
      expect(await store.authenticate('nobody', a.secret)).toBeUndefined()
      expect(await store.authenticate('_ingest', a.secret)).toBeUndefined() // no service secret set yet
      await store.revoke('sim-001')
      expect(await store.authenticate('sim-001', b.secret)).toBeUndefined()
    })

    it('spends a hash verification on an unknown username too, so timing does not tell which names exist', async () => {
      const { secret } = await store.addDevice(garden())
      const median = async (username: string) => {
        const times: number[] = []
        for (let i = 0; i < 5; i++) {
          const start = performance.now()
          await store.authenticate(username, `${secret}x`)
          times.push(performance.now() - start)
        }
        return times.sort((x, y) => x - y)[2]!
      }
      await median('nobody') // warm-up: the throwaway hash is made once
      const known = await median('sim-000')
      const unknown = await median('nobody')
      expect(known).toBeGreaterThan(10) // scrypt N=16384 takes tens of ms
      expect(unknown / known).toBeGreaterThan(0.5)
    })

    it('rotates a secret: the old one stops working, the new one works, updatedAt moves', async () => {
      const first = await at(2_000, () => store.addDevice(garden()))
      const second = await at(3_000, () => store.rotateSecret('sim-000'))
      expect(second).toEqual({ id: 'sim-000', username: 'sim-000', secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) })
      expect(second.secret).not.toBe(first.secret)
      expect(await store.authenticate('sim-000', first.secret)).toBeUndefined()
      expect(await store.authenticate('sim-000', second.secret)).toMatchObject({ kind: 'device', device: { id: 'sim-000', createdAt: 2_000, updatedAt: 3_000 } })
      expect(await refusal(() => store.rotateSecret('nobody'))).toBe("no device 'nobody' in the registry")
      await store.revoke('sim-000')
      expect(await refusal(() => store.rotateSecret('sim-000'))).toBe("device 'sim-000' is revoked (revoked devices get no new secret; register a new id)")
    })

    it('revokes for good: listed with revokedAt, idempotent, unknown ids refused', async () => {
      await at(2_000, () => store.addDevice(garden()))
      const revoked = await at(3_000, () => store.revoke('sim-000'))
      expect(revoked).toMatchObject({ id: 'sim-000', createdAt: 2_000, updatedAt: 3_000, revokedAt: 3_000 })
      expect(await store.device('sim-000')).toStrictEqual(revoked)
      expect(await at(4_000, () => store.revoke('sim-000'))).toStrictEqual(revoked)
      expect(await refusal(() => store.revoke('nobody'))).toBe("no device 'nobody' in the registry")
    })

    it('reports devices changed strictly after a time, for the broker to close their connections', async () => {
      await at(1_000, () => store.addDevice(garden({ id: 'a' })))
      await at(1_000, () => store.addDevice(garden({ id: 'b' })))
      await at(1_000, () => store.addDevice(garden({ id: 'c' })))
      await at(2_000, () => store.rotateSecret('a'))
      await at(3_000, () => store.revoke('b'))
      const ids = async (since: number) => (await store.changedSince(since)).map((d) => d.id)
      expect(await ids(999)).toEqual(['a', 'b', 'c'])
      expect(await ids(1_000)).toEqual(['a', 'b'])
      expect(await ids(2_000)).toEqual(['b'])
      expect(await ids(3_000)).toEqual([])
      expect((await store.changedSince(2_000))[0]).toMatchObject({ id: 'b', updatedAt: 3_000, revokedAt: 3_000 })
    })

    it('keeps a position history: the registered position from the epoch, moves by validFrom, the newest as location', async () => {
      const P0 = { lat: 52.5312, lon: 6.0571 }
      const T2017 = Date.UTC(2017, 9, 7, 12, 29, 51)
      const T2019 = Date.UTC(2019, 0, 17, 0, 0, 54)
      const T2021 = Date.UTC(2021, 5, 1)
      await at(1_000, () => store.addDevice(garden()))
      await at(1_000, () => store.addDevice({ id: 'esphome-attic', neighbourhood: 'stadshagen', consent: true }))
      expect(await store.positions('sim-000')).toEqual([{ deviceId: 'sim-000', validFrom: 0, location: P0 }])
      expect(await store.positions('esphome-attic')).toEqual([])
      // a move from 2019 on; updatedAt stays (no credential or right changed: a broker has nothing to close)
      const moved = await at(9_000, () => store.moveDevice('sim-000', { lat: 52.5105, lon: 6.0921 }, T2019))
      expect(moved).toMatchObject({ id: 'sim-000', location: { lat: 52.5105, lon: 6.0921 }, updatedAt: 1_000 })
      expect(await store.changedSince(1_000)).toEqual([])
      // an earlier entry leaves the current position alone; the same validFrom replaces its entry
      expect((await store.moveDevice('sim-000', { lat: 52.52, lon: 6.07 }, T2017)).location).toEqual({ lat: 52.5105, lon: 6.0921 })
      expect((await store.moveDevice('sim-000', { lat: 52.5111, lon: 6.0922 }, T2019)).location).toEqual({ lat: 52.5111, lon: 6.0922 })
      // without validFrom: from now on
      expect((await at(T2021, () => store.moveDevice('sim-000', P0))).location).toEqual(P0)
      // a device registered without a location gets one by moving
      expect((await store.moveDevice('esphome-attic', { lat: 52.53, lon: 6.061 }, T2017)).location).toEqual({ lat: 52.53, lon: 6.061 })
      expect(await store.positions()).toEqual([
        { deviceId: 'esphome-attic', validFrom: T2017, location: { lat: 52.53, lon: 6.061 } },
        { deviceId: 'sim-000', validFrom: 0, location: P0 },
        { deviceId: 'sim-000', validFrom: T2017, location: { lat: 52.52, lon: 6.07 } },
        { deviceId: 'sim-000', validFrom: T2019, location: { lat: 52.5111, lon: 6.0922 } },
        { deviceId: 'sim-000', validFrom: T2021, location: P0 },
      ])
      expect((await store.device('sim-000'))?.location).toEqual(P0)
    })

    it('refuses a bad move with the field and rule named, and records nothing', async () => {
      await store.addDevice(garden())
      await store.addDevice(garden({ id: 'hood-1', location: { lat: 52.531, lon: 6.058 }, coarsen: 'neighbourhood' }))
      await store.addDevice(garden({ id: 'gone', location: { lat: 52.531, lon: 6.058 } }))
      await store.revoke('gone')
      expect(await refusal(() => store.moveDevice('nope', { lat: 52, lon: 6 }, 0))).toBe("no device 'nope' in the registry")
      expect(await refusal(() => store.moveDevice('gone', { lat: 52, lon: 6 }, 0))).toBe("device 'gone' is revoked (a revoked device does not move; register a new id)")
      expect(await refusal(() => store.moveDevice('sim-000', { lat: 91, lon: 6 }, 5))).toBe("cannot record positions of 'sim-000': location.lat: Too big: expected number to be <=90")
      expect(await refusal(() => store.moveDevice('sim-000', { lat: 52, lon: 6 }, -1))).toBe("cannot record positions of 'sim-000': validFrom: Too small: expected number to be >=0")
      expect(await refusal(() => store.moveDevice('hood-1', { lat: 52.6, lon: 6.06 }, 5))).toBe(
        "cannot record positions of 'hood-1': location: lies outside neighbourhood 'stadshagen' (more than radiusM 1500 m from its center; the device is published at that centre)",
      )
      expect(await refusal(() => store.recordPositions('sim-000', [{ validFrom: 5, location: { lat: 52, lon: 6 } }, { validFrom: 1.5, location: { lat: 52, lon: 181 } }]))).toBe(
        "cannot record positions of 'sim-000': [1].validFrom: Invalid input: expected int, received number; [1].location.lon: Too big: expected number to be <=180",
      )
      expect((await store.positions()).map((p) => [p.deviceId, p.validFrom])).toEqual([['gone', 0], ['hood-1', 0], ['sim-000', 0]])
    })

    it("records a source's own positions over time (the archive's lat/lon per row): runs collapsed, revoked devices too", async () => {
      const P17 = { lat: 57.128, lon: -2.13 }
      const P19 = { lat: 57.138, lon: -2.077 }
      const t = (iso: string) => Date.parse(`${iso}Z`)
      await store.addDevice({ id: 'sc-5331', neighbourhood: 'archief', consent: true, location: P19 })
      const device = await store.recordPositions('sc-5331', [
        { validFrom: t('2019-01-17T00:03:26'), location: P19 },
        { validFrom: t('2017-10-07T12:32:19'), location: P17 },
        { validFrom: t('2017-10-07T12:29:51'), location: P17 },
        { validFrom: t('2019-01-17T00:00:54'), location: P19 },
      ])
      expect(device.location).toEqual(P19)
      expect(await store.positions('sc-5331')).toEqual([
        { deviceId: 'sc-5331', validFrom: 0, location: P19 },
        { deviceId: 'sc-5331', validFrom: t('2017-10-07T12:29:51'), location: P17 },
        { deviceId: 'sc-5331', validFrom: t('2019-01-17T00:00:54'), location: P19 },
      ])
      await store.revoke('sc-5331')
      await store.recordPositions('sc-5331', [{ validFrom: t('2016-01-01T00:00:00'), location: P17 }])
      expect((await store.positions('sc-5331')).map((p) => p.validFrom)).toEqual([0, t('2016-01-01T00:00:00'), t('2017-10-07T12:29:51'), t('2019-01-17T00:00:54')])
      expect(await refusal(() => store.recordPositions('sc-1', []))).toBe("no device 'sc-1' in the registry")
    })

    it('sets service secrets: username _<role>, authenticates as the role, a new secret replaces the old', async () => {
      const ingest = await at(2_000, () => store.setServiceSecret('ingest'))
      expect(ingest).toEqual({ id: 'ingest', username: '_ingest', secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) })
      expect(await store.serviceRoles()).toEqual(['ingest'])
      expect(await store.authenticate('_ingest', ingest.secret)).toStrictEqual({ kind: 'service', username: '_ingest', role: 'ingest' })
      expect(await store.authenticate('_importer', ingest.secret)).toBeUndefined()
      expect(await store.authenticate('ingest', ingest.secret)).toBeUndefined()
      const operator = await store.setServiceSecret('operator')
      const importer = await store.setServiceSecret('importer')
      expect(await store.serviceRoles()).toEqual(['ingest', 'importer', 'operator'])
      expect(await store.authenticate('_operator', operator.secret)).toStrictEqual({ kind: 'service', username: '_operator', role: 'operator' })
      expect(await store.authenticate('_importer', importer.secret)).toStrictEqual({ kind: 'service', username: '_importer', role: 'importer' })
      const again = await store.setServiceSecret('ingest')
      expect(await store.authenticate('_ingest', ingest.secret)).toBeUndefined()
      expect(await store.authenticate('_ingest', again.secret)).toStrictEqual({ kind: 'service', username: '_ingest', role: 'ingest' })
      expect(await refusal(() => store.setServiceSecret('admin' as never))).toBe("no service role 'admin' (roles: ingest, importer, operator)")
    })

    it('issues service secrets only to roles without one, and returns just those', async () => {
      const ingest = await store.setServiceSecret('ingest')
      const issued = await store.issueServiceSecrets(['operator', 'ingest', 'importer'])
      expect(issued).toEqual([
        { id: 'importer', username: '_importer', secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) },
        { id: 'operator', username: '_operator', secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) },
      ])
      expect(await store.authenticate('_ingest', ingest.secret)).toStrictEqual({ kind: 'service', username: '_ingest', role: 'ingest' })
      expect(await store.authenticate('_importer', issued[0]!.secret)).toStrictEqual({ kind: 'service', username: '_importer', role: 'importer' })
      expect(await store.authenticate('_operator', issued[1]!.secret)).toStrictEqual({ kind: 'service', username: '_operator', role: 'operator' })
      expect(await store.issueServiceSecrets(['ingest', 'importer', 'operator'])).toEqual([])
      expect(await store.issueServiceSecrets([])).toEqual([])
      expect(await store.authenticate('_importer', issued[0]!.secret)).toStrictEqual({ kind: 'service', username: '_importer', role: 'importer' })
      expect(await refusal(() => store.issueServiceSecrets(['importer', 'admin' as never]))).toBe("no service role 'admin' (roles: ingest, importer, operator)")
    })

    it('gives Mosquitto password lines for active devices and service accounts that verify with PBKDF2-SHA512', async () => {
      const shed = await store.addDevice(garden({ id: 'tasmota-shed' }))
      await store.addDevice(garden({ id: 'sim-009' })) // revoked below: no line
      const sim = await store.addDevice(garden({ id: 'sim-000' }))
      const ingest = await store.setServiceSecret('ingest')
      const importer = await store.setServiceSecret('importer')
      await store.revoke('sim-009')
      const rotated = await store.rotateSecret('sim-000')
      const entries = await store.mosquittoPasswordEntries()
      expect(entries.map((e) => e.username)).toEqual(['sim-000', 'tasmota-shed', '_importer', '_ingest'])
      const secrets: Record<string, string> = { 'sim-000': rotated.secret, 'tasmota-shed': shed.secret, _importer: importer.secret, _ingest: ingest.secret }
      for (const { username, hash } of entries) {
        // $7$<iterations>$<12-byte salt, base64>$<64-byte hash, base64> (Mosquitto 2.0 password_mosq.c)
        const match = /^\$7\$(\d+)\$([A-Za-z0-9+/]{16})\$([A-Za-z0-9+/]{86}==)$/.exec(hash)
        expect(match, `${username}: ${hash}`).not.toBeNull()
        const [, iterations, salt, digest] = match!
        expect(iterations).toBe('20000')
        const independent = pbkdf2Sync(Buffer.from(secrets[username]!, 'utf8'), Buffer.from(salt!, 'base64'), 20_000, 64, 'sha512').toString('base64')
        expect(independent).toBe(digest)
        const withOld = pbkdf2Sync(Buffer.from(sim.secret, 'utf8'), Buffer.from(salt!, 'base64'), 20_000, 64, 'sha512').toString('base64')
        expect(withOld).not.toBe(digest) // the replaced secret of sim-000 matches no line
      }
    })

    it('never stores a secret in clear: only its scrypt and Mosquitto hashes', async () => {
      const device = await store.addDevice(garden({ note: 'positive control' }))
      const rotated = await store.rotateSecret('sim-000')
      const other = await store.addDevice(garden({ id: 'sim-001' }))
      const service = await store.setServiceSecret('operator')
      const raw = await subject.raw()
      // positive controls: the raw view does show the rows and the hashes
      expect(raw).toContain('positive control')
      expect(raw).toMatch(/scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}/)
      expect(raw).toMatch(/\$7\$20000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==/)
      for (const secret of [device.secret, rotated.secret, other.secret, service.secret]) {
        expect(raw).not.toContain(secret)
        expect(raw).not.toContain(secret.slice(0, 16))
        expect(raw).not.toContain(Buffer.from(secret, 'base64url').toString('hex'))
      }
      expect(JSON.stringify(await store.devices())).not.toMatch(/scrypt|\$7\$/) // records carry no hashes either
    })

    it('closes twice without error', async () => {
      await store.close()
      await store.close()
    })
  })
}
