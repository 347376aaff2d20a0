import type { Quantity } from '../quantities.ts'

/**
 * Reference data: official observations (RIVM Luchtmeetnet, KNMI, RIVM Samen Meten) that sensors are
 * compared with. Every source sits behind ReferenceSource and passes one contract suite.
 *
 * Time convention, for every source alike: `time` is the END of the averaging hour, epoch ms UTC (Luchtmeetnet
 * `timestamp_measured` is already the end of the hour; KNMI uurgegevens `HH` 1–24 = hour ending at HH UT, so
 * date + HH h; see shared research reference-data.md §1, §3a, §7.1). Values are in SensHagen's canonical units
 * (core/quantities.ts): KNMI's 0.1 units are converted by the source.
 */
export type ReferenceSourceName = 'luchtmeetnet' | 'knmi' | 'samenmeten'

export interface ReferenceStation {
  /** `NL10818` (Luchtmeetnet), `278` (KNMI), `samenmeten:<thing id>` */
  id: string
  source: ReferenceSourceName
  name: string
  lat: number
  lon: number
  /** What it measures, when known (Luchtmeetnet `/stations/{n}` components; KNMI: all its hourly quantities). */
  quantities: Quantity[]
}

export interface ReferenceObservation {
  station: string
  source: ReferenceSourceName
  quantity: Quantity
  /** Canonical unit of `quantity`. Negative values (Luchtmeetnet near-zero O3) are kept and flagged. */
  value: number
  /** End of the averaging period, epoch ms UTC. */
  time: number
  /** Length of the averaging period, ms (3 600 000 for hourly means). KNMI T and U are spot values: 0. */
  periodMs: number
  /** `negative` for a value below 0; `calibrated` for Samen Meten `*_kal` series. */
  flags: string[]
}

export interface ReferenceQuery {
  station: string
  quantity: Quantity
  /** Inclusive, epoch ms UTC (end-of-hour times). */
  from: number
  /** Exclusive. */
  to: number
}

/** One reference data provider (HTTP API or files). Errors: UnavailableError (retriable) or RefusedError. */
export interface ReferenceSource {
  readonly name: ReferenceSourceName
  stations(): Promise<ReferenceStation[]>
  observations(query: ReferenceQuery): Promise<ReferenceObservation[]>
}
