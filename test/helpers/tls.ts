import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** True when the `openssl` command runs here; TLS tests are skipped without it. */
export const OPENSSL = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/**
 * A self-signed certificate for localhost and 127.0.0.1 (RSA 2048, valid one day) in a fresh temporary
 * folder: `certFile` and `keyFile` (PEM), `ca` the certificate's bytes for a client to trust, `remove()`.
 */
export function selfSignedCertificate(): { certFile: string; keyFile: string; ca: Buffer; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'senshagen-tls-'))
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  return { certFile, keyFile, ca: readFileSync(certFile), remove: () => rmSync(dir, { recursive: true, force: true }) }
}
