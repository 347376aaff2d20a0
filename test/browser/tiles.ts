import { deflateSync } from 'node:zlib'
import Database from 'better-sqlite3'

/**
 * A small street map for the browser tests, generated here (no downloaded data): an MBTiles 1.3 file
 * (https://github.com/mapbox/mbtiles-spec/blob/master/1.3/spec.md) of 256 px PNG tiles around `center` for zoom
 * levels `minZoom`…`maxZoom`, each tile a pale background with a grid of "streets", TMS row order as the spec
 * says. Returns the number of tiles written.
 */
export function writeTestMbtiles(file: string, center: { lat: number; lon: number }, options: { minZoom: number; maxZoom: number; radiusDeg: number }): number {
  const db = new Database(file)
  db.exec('CREATE TABLE metadata (name TEXT, value TEXT); CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB); CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)')
  const bounds = [center.lon - options.radiusDeg, center.lat - options.radiusDeg, center.lon + options.radiusDeg, center.lat + options.radiusDeg]
  const meta = db.prepare('INSERT INTO metadata VALUES (?, ?)')
  for (const [name, value] of Object.entries({ name: 'test streets', format: 'png', minzoom: String(options.minZoom), maxzoom: String(options.maxZoom), bounds: bounds.join(','), attribution: 'test tiles (generated)' })) meta.run(name, value)
  const insert = db.prepare('INSERT INTO tiles VALUES (?, ?, ?, ?)')
  const png = streetTile()
  let count = 0
  for (let z = options.minZoom; z <= options.maxZoom; z++) {
    const [x0, y1] = tileOf(bounds[1]!, bounds[0]!, z)
    const [x1, y0] = tileOf(bounds[3]!, bounds[2]!, z)
    for (let x = x0; x <= x1; x++) {
      for (let y = y0; y <= y1; y++) {
        insert.run(z, x, 2 ** z - 1 - y, png)
        count++
      }
    }
  }
  db.close()
  return count
}

/** XYZ tile of a position (Web Mercator). */
function tileOf(lat: number, lon: number, z: number): [number, number] {
  const n = 2 ** z
  const phi = (lat * Math.PI) / 180
  return [Math.floor(((lon + 180) / 360) * n), Math.floor(((1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2) * n)]
}

/** A 256×256 RGB PNG: light grey-green ground, white streets every 64 px with a grey edge. */
function streetTile(): Buffer {
  const size = 256
  const raw = Buffer.alloc((size * 3 + 1) * size)
  for (let y = 0; y < size; y++) {
    raw[y * (size * 3 + 1)] = 0 // filter: none
    for (let x = 0; x < size; x++) {
      const street = x % 64 < 6 || y % 64 < 6
      const edge = x % 64 === 6 || y % 64 === 6
      const [r, g, b] = street ? [255, 255, 255] : edge ? [190, 190, 190] : [232, 238, 228]
      const at = y * (size * 3 + 1) + 1 + x * 3
      raw[at] = r
      raw[at + 1] = g
      raw[at + 2] = b
    }
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(size, 0)
  ihdr.writeUInt32BE(size, 4)
  ihdr.set([8, 2, 0, 0, 0], 8) // 8 bit, RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

/** CRC-32 of PNG chunks (PNG spec, ISO/IEC 15948 annex D). */
function crc32(data: Buffer): number {
  let c = 0xffffffff
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}
