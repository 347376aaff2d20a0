import { readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { z } from 'zod'
import { ProblemSchema, notFound } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'

/**
 * The residents' page street map, served by us so that viewing the page makes no third-party request.
 *
 * Tiles come from an MBTiles file the operator provides (SENSHAGEN_BASEMAP_FILE; MBTiles 1.3 spec,
 * https://github.com/mapbox/mbtiles-spec/blob/master/1.3/spec.md): SQLite table `tiles(zoom_level, tile_column,
 * tile_row, tile_data)` with TMS rows (row = 2^z − 1 − y of the XYZ scheme the page asks for), and
 * `metadata(name, value)` with `format` (png|jpg|webp), `minzoom`, `maxzoom`, `bounds` ("w,s,e,n" degrees) and
 * `attribution`. Raster tiles only: the page draws them as images, without a map library. How to cut a
 * Zwolle file from OpenStreetMap: README "Residents' page".
 *
 * Search (SENSHAGEN_BASEMAP_NAMES_FILE): a JSON array `[{name, kind: 'street'|'postcode', lat, lon}]` made from
 * the same extract (public map data, no household data). Matching is case- and accent-insensitive on the start
 * of a word, or on the whole postcode with or without its space; at most SEARCH_LIMIT results.
 *
 * Routes: GET /api/v1/basemap (what there is; 404 without a file), GET /tiles/:z/:x/:tile (`<y>.<format>`),
 * GET /api/v1/basemap/search?q=. Without SENSHAGEN_BASEMAP_FILE none of them is registered except the first,
 * which answers 404, and the page draws its map without streets.
 */
export const SEARCH_LIMIT = 8

export const BasemapSchema = z.object({
  format: z.enum(['png', 'jpg', 'webp']),
  minZoom: z.number().int(),
  maxZoom: z.number().int(),
  bounds: z.tuple([z.number(), z.number(), z.number(), z.number()]).nullable().describe('west, south, east, north (degrees)'),
  tiles: z.string().describe('URL template, XYZ scheme'),
  attribution: z.string().nullable(),
  search: z.boolean().describe('whether GET /api/v1/basemap/search answers'),
})
export const PlaceSchema = z.object({ name: z.string(), kind: z.enum(['street', 'postcode']), lat: z.number(), lon: z.number() })
export const SearchResponseSchema = z.object({ results: z.array(PlaceSchema) })
const TileParams = z.object({
  z: z.coerce.number().int().min(0).max(22),
  x: z.coerce.number().int().min(0),
  tile: z.string().regex(/^\d{1,8}\.(png|jpg|webp)$/, 'must be <y>.png, <y>.jpg or <y>.webp'),
})
const SearchQuery = z.object({ q: z.string().trim().min(2).max(60).describe('start of a street name, or a postcode such as 8043 or 8043 AB') })

const CONTENT_TYPES = { png: 'image/png', jpg: 'image/jpeg', webp: 'image/webp' } as const
const NO_BASEMAP = 'no street map is configured (SENSHAGEN_BASEMAP_FILE)'

type Place = z.infer<typeof PlaceSchema>

/** Lower case without accents or spaces-to-collapse: the form both names and queries are matched in. */
export function searchKey(text: string): string {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/\s+/g, ' ').trim()
}

/** Places whose name (a word start) or postcode (spaces ignored) starts with `query`, streets first, by name. */
export function searchPlaces(places: readonly Place[], query: string): Place[] {
  const q = searchKey(query)
  const compact = q.replace(/ /g, '')
  return places
    .filter((p) => {
      const key = searchKey(p.name)
      return p.kind === 'postcode' ? key.replace(/ /g, '').startsWith(compact) : key.startsWith(q) || key.includes(` ${q}`) || key.includes(`-${q}`)
    })
    .sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name, 'nl') : a.kind === 'street' ? -1 : 1))
    .slice(0, SEARCH_LIMIT)
}

/** Reads and checks a names file; throws with the file name when it is not the documented shape. */
export function readPlaces(file: string): Place[] {
  const parsed = z.array(PlaceSchema).safeParse(JSON.parse(readFileSync(file, 'utf8')))
  if (!parsed.success) throw new Error(`${file}: not a [{name, kind, lat, lon}] names file: ${parsed.error.issues[0]?.message}`)
  return parsed.data
}

export function registerBasemapRoutes(router: ApiRouter, deps: ApiDeps): void {
  const file = deps.config.api.basemapFile
  const db = file === undefined ? undefined : new Database(file, { readonly: true, fileMustExist: true })
  const meta = new Map<string, string>()
  if (db) {
    for (const row of db.prepare('SELECT name, value FROM metadata').all() as Array<{ name: string; value: string }>) meta.set(row.name, row.value)
    router.app.addHook('onClose', async () => db.close())
  }
  const format = (meta.get('format') ?? 'png') as keyof typeof CONTENT_TYPES
  const places = deps.config.api.basemapNamesFile === undefined || db === undefined ? undefined : readPlaces(deps.config.api.basemapNamesFile)
  const bounds = meta.get('bounds')?.split(',').map(Number)

  router.get(
    {
      method: 'GET',
      url: '/api/v1/basemap',
      operationId: 'basemap',
      summary: "the residents' page street map: tile URL template, zoom range, bounds",
      tags: ['site'],
      responses: {
        200: { description: 'the street map', content: { 'application/json': BasemapSchema } },
        404: { description: 'no street map configured', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async () => {
      if (db === undefined) throw notFound(NO_BASEMAP)
      return {
        format,
        minZoom: Number(meta.get('minzoom') ?? 0),
        maxZoom: Number(meta.get('maxzoom') ?? 18),
        bounds: bounds?.length === 4 && bounds.every(Number.isFinite) ? (bounds as [number, number, number, number]) : null,
        tiles: `/tiles/{z}/{x}/{y}.${format}`,
        attribution: meta.get('attribution') ?? null,
        search: places !== undefined,
      }
    },
  )
  if (db === undefined) return

  const tileQuery = db.prepare('SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?')
  router.get(
    {
      method: 'GET',
      url: '/tiles/:z/:x/:tile',
      operationId: 'basemapTile',
      summary: 'one street map tile (XYZ scheme)',
      tags: ['site'],
      params: TileParams,
      responses: {
        200: { description: 'tile image', content: { [CONTENT_TYPES[format]]: { schema: { type: 'string', format: 'binary' } } } },
        404: { description: 'no such tile', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request, reply) => {
      const { z: zoom, x, tile } = request.params
      const y = Number(tile.split('.')[0])
      const row = tileQuery.get(zoom, x, 2 ** zoom - 1 - y) as { tile_data: Buffer } | undefined
      if (row === undefined || !tile.endsWith(`.${format}`)) throw notFound('no such tile')
      return reply.type(CONTENT_TYPES[format]).header('cache-control', 'public, max-age=86400').send(row.tile_data)
    },
  )

  if (places === undefined) return
  router.get(
    {
      method: 'GET',
      url: '/api/v1/basemap/search',
      operationId: 'basemapSearch',
      summary: 'streets and postcodes of the street map whose name starts with q',
      tags: ['site'],
      querystring: SearchQuery,
      responses: {
        200: { description: 'at most 8 places', content: { 'application/json': SearchResponseSchema } },
        400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request) => ({ results: searchPlaces(places, request.query.q) }),
  )
}
