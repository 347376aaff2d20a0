import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the fixture server received. */
export interface RecordedRequest {
  method: string
  /** Path without the query string, percent-decoded (`/v1.0/Datastreams(2819)/Observations`). */
  path: string
  query: URLSearchParams
  /** Request body text (form fields of a POST). */
  body: string
  /** The request target as received. */
  url: string
}

export interface FixtureResponse {
  status?: number
  contentType?: string
  headers?: Record<string, string>
  body: string
}

/** Answers one request; `baseUrl` is the server's own origin (for SensorThings nextLinks). */
export type FixtureHandler = (request: RecordedRequest, baseUrl: string) => FixtureResponse

export interface FixtureServer {
  /** `http://127.0.0.1:<port>` */
  origin: string
  requests: RecordedRequest[]
  /** The next `count` requests are answered with `status` (and `headers`) instead of the handler. */
  failNext(count: number, status: number, headers?: Record<string, string>): void
  close(): Promise<void>
}

/** A local HTTP server on 127.0.0.1, port 0, that records every request and answers through `handler`. */
export async function startFixtureServer(handler: FixtureHandler): Promise<FixtureServer> {
  const requests: RecordedRequest[] = []
  const failures: Array<{ status: number; headers: Record<string, string> }> = []
  let origin = ''
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const target = new URL(req.url ?? '/', origin)
      const recorded: RecordedRequest = { method: req.method ?? 'GET', path: decodeURIComponent(target.pathname), query: target.searchParams, body: Buffer.concat(chunks).toString('utf8'), url: req.url ?? '/' }
      requests.push(recorded)
      const failure = failures.shift()
      if (failure) {
        res.writeHead(failure.status, { 'content-type': 'text/plain', ...failure.headers })
        res.end(`injected ${failure.status}`)
        return
      }
      let response: FixtureResponse
      try {
        response = handler(recorded, origin)
      } catch (error) {
        response = { status: 500, body: String(error) }
      }
      res.writeHead(response.status ?? 200, { 'content-type': response.contentType ?? 'application/json', ...response.headers })
      res.end(response.body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    requests,
    failNext(count, status, headers = {}) {
      for (let i = 0; i < count; i++) failures.push({ status, headers })
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
