import type { ReferenceSourceOptions } from './http.ts'
import { KnmiSource, KNMI_BASE_URL, KNMI_QUANTITIES } from './knmi.ts'
import { LuchtmeetnetSource, LUCHTMEETNET_BASE_URL, LUCHTMEETNET_FORMULAS } from './luchtmeetnet.ts'
import type { Quantity } from '../quantities.ts'
import type { ReferenceSource, ReferenceSourceName } from './reference.ts'
import { SamenMetenSource, SAMENMETEN_BASE_URL, SAMENMETEN_PROPERTIES, type SamenMetenOptions } from './samenmeten.ts'

export const REFERENCE_SOURCE_NAMES: readonly ReferenceSourceName[] = ['luchtmeetnet', 'knmi', 'samenmeten']

/** Default API base URL of each source. */
export const REFERENCE_BASE_URLS: Readonly<Record<ReferenceSourceName, string>> = {
  luchtmeetnet: LUCHTMEETNET_BASE_URL,
  knmi: KNMI_BASE_URL,
  samenmeten: SAMENMETEN_BASE_URL,
}

/** The quantities each source can serve. */
export const REFERENCE_QUANTITIES: Readonly<Record<ReferenceSourceName, readonly Quantity[]>> = {
  luchtmeetnet: Object.values(LUCHTMEETNET_FORMULAS),
  knmi: KNMI_QUANTITIES,
  samenmeten: [...new Set(Object.values(SAMENMETEN_PROPERTIES))],
}

export function isReferenceSourceName(name: string): name is ReferenceSourceName {
  return (REFERENCE_SOURCE_NAMES as readonly string[]).includes(name)
}

/** The HTTP ReferenceSource for `name`, at `baseUrl` (default REFERENCE_BASE_URLS[name]). */
export function createReferenceSource(name: ReferenceSourceName, baseUrl: string | undefined, options: ReferenceSourceOptions & Omit<SamenMetenOptions, keyof ReferenceSourceOptions>): ReferenceSource {
  switch (name) {
    case 'luchtmeetnet':
      return new LuchtmeetnetSource(baseUrl ?? LUCHTMEETNET_BASE_URL, options)
    case 'knmi':
      return new KnmiSource(baseUrl ?? KNMI_BASE_URL, options)
    case 'samenmeten':
      return new SamenMetenSource(baseUrl ?? SAMENMETEN_BASE_URL, options)
  }
}
