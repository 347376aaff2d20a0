import type { ApiServerConfig } from '../../services/api/config.ts'
import { INFLUX_URL } from './env.ts'

/**
 * The API server configuration of a test: listening nowhere (inject, or listen on port 0), live polling every
 * second, no calibration reports; `api` overrides or adds settings (rate limit, trust proxy, cost limits).
 */
export function testApiConfig(api: Partial<ApiServerConfig['api']> = {}, influxUrl = INFLUX_URL): ApiServerConfig {
  return {
    api: { bind: '127.0.0.1', port: 0, livePollMs: 1000, liveHeartbeatMs: 15_000, ...api },
    influx: { url: influxUrl },
    calibration: { reportsDir: '/nonexistent' },
  }
}
