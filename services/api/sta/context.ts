import type { DeviceRegistry } from '../../../core/registry/registry.ts'
import type { ReadingStore } from '../../../core/store/store.ts'
import type { Entity, StaLinks } from './entities.ts'
import { DEFAULT_TOP, type StaQuery } from './query-options.ts'

/** What resolving an STA request needs: the store, the public registry, links and the request URL. */
export interface StaContext {
  store: Pick<ReadingStore, 'lastReadings' | 'readingLabels' | 'readingRows' | 'countReadings'>
  registry: DeviceRegistry
  links: StaLinks
  /** The request URL (path and query), for @iot.nextLink. */
  requestUrl: string
}

export const NO_SUCH_ENTITY = 'no such entity'
/** A page of `keys` ($top/$skip, default $top DEFAULT_TOP), @iot.count with $count=true, @iot.nextLink when more. */
export async function collection(ctx: StaContext, keys: readonly string[], q: StaQuery, build: (key: string) => Promise<Entity> | Entity): Promise<Entity> {
  const top = q.$top ?? DEFAULT_TOP
  const skip = q.$skip ?? 0
  const value = await Promise.all(keys.slice(skip, skip + top).map(build))
  return {
    ...(q.$count === 'true' ? { '@iot.count': keys.length } : {}),
    value,
    ...(skip + top < keys.length ? { '@iot.nextLink': nextLink(ctx, skip + top) } : {}),
  }
}

/** The request URL with `$skip` set, absolute (§9.3.3.6 @iot.nextLink). */
export function nextLink(ctx: StaContext, skip: number): string {
  const url = new URL(ctx.requestUrl, ctx.links.base)
  url.searchParams.set('$skip', String(skip))
  return `${ctx.links.origin}${url.pathname}?${url.searchParams.toString().replace(/%24/g, '$')}`
}

