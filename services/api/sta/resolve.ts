import { isQuantity, type Quantity } from '../../../core/quantities.ts'
import type { DeviceRegistry, PublicDevice, PublicPosition } from '../../../core/registry/registry.ts'
import type { ReadingStore } from '../../../core/store/store.ts'
import { sensorTypeSlug } from '../open-data/archive-layout.ts'
import { badParam, notFound } from '../problem.ts'
import { compareIds } from '../readings-query.ts'
import { type Entity, datastream, datastreamId, historicalLocation, historyId, location, observedProperty, sensor, thing } from './entities.ts'
import { observationById, observationsPage } from './observations.ts'
import { NO_SUCH_ENTITY, type StaContext, collection } from './context.ts'
import { type StaQuery, checkIdOrder, parseExpand } from './query-options.ts'

/**
 * Resolves an STA resource path (OGC 18-088 §9.2: `Things`, `Things('g-a')`, `Things('g-a')/Datastreams`, …)
 * to its JSON: an entity, or a collection `{ "@iot.count"?, value, "@iot.nextLink"? }` (§9.3.3). Only public
 * devices exist here (the registry hands out nothing else), so an unknown and a hidden id get the same 404.
 */
const ENTITY_SETS = ['Things', 'Locations', 'HistoricalLocations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations'] as const
type EntitySet = (typeof ENTITY_SETS)[number]

interface Segment {
  name: string
  key?: string
}

/** `Things('g-a')` → { name: 'Things', key: 'g-a' }; quoted keys with `''` for `'`, or bare keys. */
function parseSegment(text: string): Segment | undefined {
  const match = /^([A-Za-z]+)(?:\((?:'((?:[^']|'')*)'|([^()']*))\))?$/.exec(text)
  if (!match) return undefined
  const key = match[2] !== undefined ? match[2].replace(/''/g, "'") : match[3]
  return { name: match[1]!, ...(key !== undefined ? { key } : {}) }
}

/** The path after /sta/v1.1/ as its JSON answer. Errors: 404 (no such path or entity), 400 (bad query option). */
export async function resolveSta(ctx: StaContext, path: string, q: StaQuery): Promise<Entity> {
  const parts = path.split('/').filter((p) => p !== '')
  const segments = parts.map(parseSegment)
  const [first, nav] = segments
  if (!first || segments.includes(undefined) || parts.length > 2 || !(ENTITY_SETS as readonly string[]).includes(first.name)) throw notFound('no such resource')
  const set = first.name as EntitySet
  if (first.key === undefined) {
    if (nav) throw notFound('no such resource')
    return listSet(ctx, set, q)
  }
  if (nav?.key !== undefined) throw notFound('no such resource')
  return nav === undefined ? entityOf(ctx, set, first.key, q) : navigate(ctx, set, first.key, nav!.name, q)
}

function device(ctx: StaContext, id: string): PublicDevice {
  const found = ctx.registry.publicDevice(id)
  if (!found) throw notFound(NO_SUCH_ENTITY)
  return found
}

/** The public device and published history entry of a `<device>~<valid from>` id (HistoricalLocations, Locations). */
function historyEntry(ctx: StaContext, id: string): { device: PublicDevice; entry: PublicPosition } {
  const [deviceId, ms, extra] = id.split('~')
  const d = extra === undefined && ms !== undefined && /^\d{1,16}$/.test(ms) ? ctx.registry.publicDevice(deviceId!) : undefined
  const entry = d?.positions.find((p) => p.validFrom === Number(ms))
  if (!d || !entry) throw notFound(NO_SUCH_ENTITY)
  return { device: d, entry }
}

/** Every published history entry of the public devices, by device then time, keyed by historyId. */
function historiesOf(devices: readonly PublicDevice[]): Map<string, { device: PublicDevice; entry: PublicPosition }> {
  return new Map(devices.flatMap((d) => d.positions.map((entry) => [historyId(d.id, entry), { device: d, entry }] as const)))
}

/** (device, quantity) of a Datastream id of a public device with readings of that quantity. */
async function datastreamOf(ctx: StaContext, id: string): Promise<{ device: PublicDevice; quantity: Quantity }> {
  const [deviceId, quantity, extra] = id.split('~')
  if (extra !== undefined || quantity === undefined || !isQuantity(quantity)) throw notFound(NO_SUCH_ENTITY)
  const d = device(ctx, deviceId!)
  if (!(await datastreamsOf(ctx, [d])).some((s) => s.quantity === quantity)) throw notFound(NO_SUCH_ENTITY)
  return { device: d, quantity }
}

/** Every Datastream of `devices`: the quantities each has readings of, by device then quantity. */
async function datastreamsOf(ctx: StaContext, devices: readonly PublicDevice[]): Promise<Array<{ device: PublicDevice; quantity: Quantity; sensor: string }>> {
  if (devices.length === 0) return []
  const selection = { devices: devices.map((d) => d.id) }
  const [last, labels] = await Promise.all([ctx.store.lastReadings(selection), ctx.store.readingLabels(selection)])
  const sensorOf = new Map(labels.map((l) => [datastreamId(l.deviceId, l.quantity), l.sensor ?? '']))
  const byId = new Map(devices.map((d) => [d.id, d]))
  return last
    .filter((l) => byId.has(l.deviceId))
    .map((l) => ({ device: byId.get(l.deviceId)!, quantity: l.quantity, sensor: sensorOf.get(datastreamId(l.deviceId, l.quantity)) ?? '' }))
    .sort((a, b) => compareIds(a.device.id, b.device.id) || compareIds(a.quantity, b.quantity))
}

async function sensorsOf(ctx: StaContext): Promise<Map<string, string>> {
  const models = new Map<string, string>()
  for (const s of await datastreamsOf(ctx, ctx.registry.publicDevices())) models.set(sensorTypeSlug(s.sensor), s.sensor || 'unknown')
  return new Map([...models].sort(([a], [b]) => compareIds(a, b)))
}

async function expanded(ctx: StaContext, entity: Entity, set: EntitySet, key: string, q: StaQuery): Promise<Entity> {
  const allowed = set === 'Things' ? ['Locations', 'HistoricalLocations', 'Datastreams'] : set === 'HistoricalLocations' ? ['Thing', 'Locations'] : set === 'Datastreams' ? ['Thing', 'Sensor', 'ObservedProperty'] : []
  for (const item of parseExpand(q.$expand, allowed)) {
    const inner = await navigate(ctx, set, key, item, {})
    entity[item] = 'value' in inner ? inner.value : inner
  }
  return entity
}

async function listSet(ctx: StaContext, set: EntitySet, q: StaQuery): Promise<Entity> {
  const { links, registry } = ctx
  if (set === 'Observations') throw badParam('$filter', 'list Observations through a Datastream: Datastreams(id)/Observations')
  if (q.$filter !== undefined) throw badParam('$filter', 'is supported on Observations only')
  checkIdOrder(q.$orderby)
  let keys: string[]
  let build: (key: string) => Entity
  if (set === 'Things' || set === 'Locations') {
    const devices = registry.publicDevices()
    keys = devices.map((d) => d.id)
    build = (id) => (set === 'Things' ? thing(links, device(ctx, id), registry.neighbourhood(device(ctx, id).neighbourhood)) : location(links, device(ctx, id)))
  } else if (set === 'HistoricalLocations') {
    const histories = historiesOf(registry.publicDevices())
    keys = [...histories.keys()]
    build = (id) => historicalLocation(links, histories.get(id)!.device, histories.get(id)!.entry)
  } else if (set === 'Datastreams') {
    const streams = await datastreamsOf(ctx, registry.publicDevices())
    const byId = new Map(streams.map((s) => [datastreamId(s.device.id, s.quantity), s]))
    keys = [...byId.keys()]
    build = (id) => datastream(links, byId.get(id)!.device, byId.get(id)!.quantity)
  } else if (set === 'Sensors') {
    const models = await sensorsOf(ctx)
    keys = [...models.keys()]
    build = (id) => sensor(links, id, models.get(id)!)
  } else {
    const streams = await datastreamsOf(ctx, registry.publicDevices())
    keys = [...new Set(streams.map((s) => s.quantity))].sort(compareIds)
    build = (id) => observedProperty(links, id as Quantity)
  }
  return collection(ctx, keys, q, async (key) => expanded(ctx, build(key), set, key, q))
}

async function entityOf(ctx: StaContext, set: EntitySet, key: string, q: StaQuery): Promise<Entity> {
  const { links, registry } = ctx
  switch (set) {
    case 'Things': {
      const d = device(ctx, key)
      return expanded(ctx, thing(links, d, registry.neighbourhood(d.neighbourhood)), set, key, q)
    }
    case 'Locations': {
      if (!key.includes('~')) return expanded(ctx, location(links, device(ctx, key)), set, key, q)
      const { device: d, entry } = historyEntry(ctx, key)
      return expanded(ctx, location(links, d, entry), set, key, q)
    }
    case 'HistoricalLocations': {
      const { device: d, entry } = historyEntry(ctx, key)
      return expanded(ctx, historicalLocation(links, d, entry), set, key, q)
    }
    case 'Datastreams': {
      const { device: d, quantity } = await datastreamOf(ctx, key)
      return expanded(ctx, datastream(links, d, quantity), set, key, q)
    }
    case 'Sensors': {
      const model = (await sensorsOf(ctx)).get(key)
      if (model === undefined) throw notFound(NO_SUCH_ENTITY)
      return expanded(ctx, sensor(links, key, model), set, key, q)
    }
    case 'ObservedProperties': {
      if (!isQuantity(key) || !(await datastreamsOf(ctx, registry.publicDevices())).some((s) => s.quantity === key)) throw notFound(NO_SUCH_ENTITY)
      return expanded(ctx, observedProperty(links, key), set, key, q)
    }
    case 'Observations': {
      parseExpand(q.$expand, [])
      return observationById(ctx, key, (deviceId) => device(ctx, deviceId))
    }
  }
}

async function navigate(ctx: StaContext, set: EntitySet, key: string, nav: string, q: StaQuery): Promise<Entity> {
  const { links, registry } = ctx
  const route = `${set}/${nav}`
  const noFilter = () => {
    if (q.$filter !== undefined) throw badParam('$filter', 'is supported on Observations only')
  }
  switch (route) {
    case 'Things/HistoricalLocations': {
      noFilter()
      const d = device(ctx, key)
      const histories = historiesOf([d])
      return collection(ctx, [...histories.keys()], q, (id) => expanded(ctx, historicalLocation(links, d, histories.get(id)!.entry), 'HistoricalLocations', id, q))
    }
    case 'HistoricalLocations/Thing':
    case 'HistoricalLocations/Locations': {
      noFilter()
      const { device: d, entry } = historyEntry(ctx, key)
      if (nav === 'Thing') return thing(links, d, registry.neighbourhood(d.neighbourhood))
      return collection(ctx, [historyId(d.id, entry)], q, () => location(links, d, entry))
    }
    case 'Things/Locations':
    case 'Things/Datastreams':
    case 'Locations/Things': {
      noFilter()
      const d = route === 'Locations/Things' && key.includes('~') ? historyEntry(ctx, key).device : device(ctx, key)
      if (route === 'Things/Locations') return collection(ctx, [d.id], q, () => location(links, d))
      if (route === 'Locations/Things') return collection(ctx, [d.id], q, () => thing(links, d, registry.neighbourhood(d.neighbourhood)))
      const streams = await datastreamsOf(ctx, [d])
      return collection(ctx, streams.map((s) => s.quantity), q, (quantity) => expanded(ctx, datastream(links, d, quantity as Quantity), 'Datastreams', datastreamId(d.id, quantity as Quantity), q))
    }
    case 'Datastreams/Thing':
    case 'Datastreams/Sensor':
    case 'Datastreams/ObservedProperty':
    case 'Datastreams/Observations': {
      const { device: d, quantity } = await datastreamOf(ctx, key)
      if (nav === 'Observations') return observationsPage(ctx, d.id, quantity, q)
      if (nav === 'Thing') return thing(links, d, registry.neighbourhood(d.neighbourhood))
      if (nav === 'ObservedProperty') return observedProperty(links, quantity)
      const model = (await datastreamsOf(ctx, [d])).find((s) => s.quantity === quantity)?.sensor ?? ''
      return sensor(links, sensorTypeSlug(model), model || 'unknown')
    }
    case 'Sensors/Datastreams':
    case 'ObservedProperties/Datastreams': {
      noFilter()
      const streams = (await datastreamsOf(ctx, registry.publicDevices())).filter((s) => (set === 'Sensors' ? sensorTypeSlug(s.sensor) === key : s.quantity === key))
      if (streams.length === 0) throw notFound(NO_SUCH_ENTITY)
      const byId = new Map(streams.map((s) => [datastreamId(s.device.id, s.quantity), s]))
      return collection(ctx, [...byId.keys()], q, (id) => datastream(links, byId.get(id)!.device, byId.get(id)!.quantity))
    }
    case 'Observations/Datastream': {
      const [deviceId, quantity] = key.split('~')
      return entityOf(ctx, 'Datastreams', `${deviceId}~${quantity}`, {})
    }
    default:
      throw notFound('no such resource')
  }
}
