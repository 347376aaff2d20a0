import { isSecretName, type InboundMessage } from '../../core/decoders/decoder.ts'
import { parseLenientJson } from '../../core/lenient-json.ts'

/**
 * Secrets out of an HTTP push before anything can keep them (issue 8, item 5). The pipeline stores a rejected
 * message's payload as `raw`, decoders copy offending values into rejections, and logs may carry headers: so the
 * HTTP ingest hands the pipeline only what redactSecrets() returns.
 *
 * What counts as a secret:
 * - the credentials the request presented (WU `PASSWORD`, WOW `siteAuthenticationKey`, the openSenseMap token, the
 *   basic-auth password, the Ecowitt path token): replaced by `***` wherever they occur, literally or encoded
 *   (percent, form `+`, JSON escapes), including under a name nobody expected;
 * - the value of any parameter or JSON key whose name is a credential word (decoder.ts isSecretName: `PASSWORD`,
 *   `password`, `PASSWORD%00`, `PassKey`, `token`, …), whatever its value: a second, different password is as
 *   secret as the right one;
 * - the headers `authorization`, `proxy-authorization` and `cookie`, dropped whole.
 */

/** Headers that carry credentials: never passed on. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie'])

const MASK = '***'

/**
 * The message with every secret removed from payload, `:query`, `:path` and the other headers (rules above).
 * `secrets` are the credential values the request presented (empty strings are ignored). Returns a new message;
 * the payload is re-encoded as UTF-8 only when something changed.
 */
export function redactSecrets(message: InboundMessage, secrets: readonly string[]): InboundMessage {
  const known = secrets.filter((s) => s.length > 0)
  const headers: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (CREDENTIAL_HEADERS.has(name.toLowerCase())) continue
    if (isSecretName(name) && !name.startsWith(':')) {
      headers[name] = MASK
      continue
    }
    if (value === undefined) headers[name] = value
    else headers[name] = name === ':query' ? redactForm(value, known) : replaceKnown(value, known)
  }
  const text = message.payload.toString('utf8')
  const redacted = redactText(text, known)
  return { ...message, payload: redacted === text ? message.payload : Buffer.from(redacted, 'utf8'), headers }
}

/**
 * A body without secrets: JSON that parses is walked (values of credential keys, string values holding a known
 * secret, and the `value` of an airrohr-style `{"value_type": "password", "value": …}` entry become `***`) and
 * re-serialised when changed; a form body (`a=1&b=2`) is redacted pair by pair; text that does not parse has the
 * values after credential keys (`"password": "…`, up to the end of a truncated text) masked. Last, every known
 * secret left anywhere, in any encoding, is masked.
 */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text
  const trimmed = text.replace(/^\uFEFF/, '').trimStart()
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    const parsed = parseLenientJson(trimmed)
    if (parsed.ok) {
      const walked = redactJson(parsed.value, secrets)
      if (walked.changed) out = JSON.stringify(walked.value)
    } else {
      out = redactBrokenJson(text)
    }
  } else if (text.includes('=')) {
    out = redactForm(text, secrets)
  }
  return replaceKnown(out, secrets)
}

/** `name=value` pairs split at `&` (as URLSearchParams does): a credential name, or a value holding a known secret, gets `***`. */
export function redactForm(params: string, secrets: readonly string[]): string {
  return params
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const [name, value] = decodePair(pair)
      if (secrets.some((s) => name.includes(s))) return MASK
      if (eq < 0) return secrets.some((s) => value.includes(s)) ? MASK : pair
      return isSecretName(name) || secrets.some((s) => value.includes(s)) ? `${pair.slice(0, eq)}=${MASK}` : pair
    })
    .join('&')
}

/** Name and value of one pair, percent-decoded exactly as URLSearchParams does it (`+` is a space, bad escapes kept). */
function decodePair(pair: string): [string, string] {
  for (const [name, value] of new URLSearchParams(pair)) return [name, value]
  return [pair, '']
}

function redactJson(value: unknown, secrets: readonly string[]): { value: unknown; changed: boolean } {
  let changed = false
  const holdsSecret = (s: string) => secrets.some((secret) => s.includes(secret))
  const visit = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (!holdsSecret(v)) return v
      changed = true
      return MASK
    }
    if (Array.isArray(v)) return v.map(visit)
    if (v === null || typeof v !== 'object') return v
    const entries = Object.entries(v as Record<string, unknown>)
    // an entry that names a credential in a field: {"value_type": "PASSWORD", "value": "…"}
    const namedSecret = entries.some(([k, x]) => ['value_type', 'name', 'key', 'sensor', 'sensor_id'].includes(k) && typeof x === 'string' && isSecretName(x))
    const out: Record<string, unknown> = {}
    for (const [k, x] of entries) {
      const key = holdsSecret(k) ? MASK : k
      if (key !== k) changed = true
      if ((isSecretName(k) || (namedSecret && k === 'value')) && x !== MASK) {
        changed = true
        out[key] = MASK
      } else {
        out[key] = visit(x)
      }
    }
    return out
  }
  const result = visit(value)
  return { value: result, changed }
}

/**
 * JSON that does not parse (truncated, malformed): the value after every credential key (`"PASSWORD" :`) is masked
 * up to its closing quote, or to the next `,` `}` `]` for a bare value, or to the end of a truncated text.
 */
function redactBrokenJson(text: string): string {
  return text.replace(/("((?:[^"\\]|\\.)*)"\s*:\s*)("(?:[^"\\]|\\.)*(?:"|$)|[^,}\]\s]*)/g, (whole, head: string, key: string) =>
    isSecretName(unescapeJson(key)) ? `${head}"${MASK}"` : whole,
  )
}

function unescapeJson(key: string): string {
  try {
    return JSON.parse(`"${key}"`) as string
  } catch {
    return key
  }
}

/** Every known secret in `text` masked: literally, percent-encoded (either hex case), form-encoded, JSON-escaped. */
function replaceKnown(text: string, secrets: readonly string[]): string {
  let out = text
  for (const secret of secrets) {
    const encoded = encodeURIComponent(secret)
    const forms = new Set([secret, encoded, lowerHex(encoded), new URLSearchParams({ s: secret }).toString().slice(2), JSON.stringify(secret).slice(1, -1)])
    for (const form of forms) if (form.length > 0) out = out.split(form).join(MASK)
  }
  return out
}

function lowerHex(encoded: string): string {
  return encoded.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())
}
