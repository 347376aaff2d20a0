import { describe, expect, it } from 'vitest'
import { isLoopback } from '../../core/store/influx.ts'

describe('InfluxDB write bodies are gzipped only when InfluxDB is on another machine', () => {
  it('knows loopback URLs', () => {
    for (const url of ['http://127.0.0.1:8086', 'http://localhost:8086', 'https://LOCALHOST', 'http://127.1.2.3:9999', 'http://[::1]:8086']) expect(isLoopback(url), url).toBe(true)
    for (const url of ['http://influx.example.org:8086', 'http://10.0.0.5:8086', 'http://128.0.0.1', 'http://localhost.example.org', 'http://[::2]:8086']) expect(isLoopback(url), url).toBe(false)
  })
})
