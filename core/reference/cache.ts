import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Logger } from '../logger.ts'

/** Default cache directory, relative to the working directory of the process (resolved when a cache opens). */
export const DEFAULT_CACHE_DIR = '.cache/reference'

/** One HTTP request as the reference sources make it; also the cache key. */
export interface CachedRequest {
  method: 'GET' | 'POST'
  url: string
  /** Form fields of a POST (application/x-www-form-urlencoded), in the order sent. */
  form?: Record<string, string>
}

/** A cache file: the request, when its response was fetched (epoch ms) and the response body text. */
interface CacheEntry {
  request: CachedRequest
  fetchedAt: number
  body: string
}

/**
 * Fetched API responses on disk, so a repeated query does not hit the API again: one JSON file per request,
 * `<dir>/<source>/<sha256 of method, url and form>.json`, holding `{request, fetchedAt, body}`. Files are
 * written to a temporary name and renamed, so a crash never leaves half a file; a file that cannot be read
 * or parsed counts as a miss (and is logged at debug). Delete the directory to start afresh.
 */
export class ResponseCache {
  readonly dir: string

  constructor(
    dir: string,
    private readonly logger: Logger,
  ) {
    this.dir = resolve(dir)
  }

  static key(request: CachedRequest): string {
    const form = request.form ? new URLSearchParams(request.form).toString() : ''
    return createHash('sha256').update(`${request.method} ${request.url}\n${form}`).digest('hex')
  }

  /** The cached body of `request` when present and fetched less than `maxAgeMs` ago (default: any age). */
  async get(source: string, request: CachedRequest, maxAgeMs = Infinity, now = Date.now()): Promise<string | undefined> {
    const file = this.file(source, request)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch {
      return undefined
    }
    try {
      const entry = JSON.parse(text) as CacheEntry
      if (typeof entry.body !== 'string' || typeof entry.fetchedAt !== 'number') throw new Error('not a cache entry')
      if (now - entry.fetchedAt > maxAgeMs) return undefined
      return entry.body
    } catch (error) {
      this.logger.debug({ err: error, file }, 'unreadable reference cache entry ignored')
      return undefined
    }
  }

  async set(source: string, request: CachedRequest, body: string, now = Date.now()): Promise<void> {
    const file = this.file(source, request)
    await mkdir(join(this.dir, source), { recursive: true })
    const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`
    const entry: CacheEntry = { request, fetchedAt: now, body }
    await writeFile(temp, JSON.stringify(entry), 'utf8')
    await rename(temp, file)
  }

  private file(source: string, request: CachedRequest): string {
    return join(this.dir, source, `${ResponseCache.key(request)}.json`)
  }
}
