import type { Config } from '../../core/config.ts'

/** Settings of the public HTTP API and the device registry, parsed with the rest in core/config.ts. */
export type ApiSettings = Pick<Config, 'api' | 'registry'>

/** Kept for callers written before core/config.ts had the API settings: the config already carries them. */
export function withApiSettings<C extends ApiSettings>(config: C, _env?: Record<string, string | undefined>): C {
  return config
}

/** What the API server reads from the configuration. */
export type ApiServerConfig = Pick<ApiSettings, 'api'> & {
  influx: Pick<Config['influx'], 'url'>
  calibration: Pick<Config['calibration'], 'reportsDir'>
  /** Fleet-health thresholds (GET /api/v1/health/devices); core/fleet-health.ts DEFAULT_HEALTH_SETTINGS when absent. */
  health?: Pick<Config['health'], 'staleAfterMs' | 'stuckAfterMs' | 'stuckMinReadings'>
}
