/** A URL without its password, for logs and messages (`mqtt://user:***@host`). Not a URL: returned as is. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}
