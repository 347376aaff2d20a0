/**
 * Where a V8 CPU profile (`node --cpu-prof`, a .cpuprofile file) spends its self time: the top functions, and the
 * same grouped by where the code lives (our folders, each npm package, node's own, GC, idle).
 *
 *   npx tsx bench/cpu-profile-top.ts FILE.cpuprofile [top=25]
 *
 * `npm run bench -- --cpu-prof` writes profiles of SensHagen's server processes and prints this for each.
 */
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Where a script lives: `core/…`-style folders of this repository, an npm package, node's internals. */
function area(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  if (url.startsWith('node:')) return 'node internals'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg) return pkg[1]!
  const ours = /\/((?:core|services|cli|bench|firmware-sim)\/[^/]+)/.exec(url)
  return ours ? ours[1]! : url
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/(node_modules|core|services|cli|bench|firmware-sim)\//, '$1/').replace(/^.*node_modules\//, '')
}

/** Self time per profile node, µs. timeDeltas[i] is the time before samples[i]: each sample gets the time until the next. */
function selfTimes(profile: Profile): Map<number, number> {
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + delta)
  }
  return self
}

/** Milliseconds the profiled thread was not idle. */
export function profileBusyMs(file: string): number {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id))
  let busy = 0
  for (const [id, us] of selfTimes(profile)) if (!idle.has(id)) busy += us
  return busy / 1000
}

/** A text table: the `top` functions by self time, then the areas; percentages of the non-idle time. */
export function summariseProfile(file: string, top = 25): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = selfTimes(profile)
  const functions = new Map<string, number>()
  const areas = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const [id, us] of self) {
    const { functionName, url } = byId.get(id)!.callFrame
    if (functionName === '(idle)') {
      idle += us
      continue
    }
    total += us
    const key = functionKey(byId.get(id)!)
    functions.set(key, (functions.get(key) ?? 0) + us)
    const where = area(url, functionName)
    areas.set(where, (areas.get(where) ?? 0) + us)
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`
  const lines = [`busy ${(total / 1e6).toFixed(1)} s, idle ${(idle / 1e6).toFixed(1)} s`, `  self time   share  function`]
  for (const [key, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${ms(us)}  ${pct(us)}  ${key}`)
  lines.push('  inclusive time (self + callees) of our functions (core/, services/, cli/):')
  for (const [key, us] of inclusiveOurs(profile, self, byId, functionKey).slice(0, 15)) lines.push(`  ${ms(us)}  ${pct(us)}  ${key}`)
  lines.push('  by where the code lives:')
  for (const [key, us] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`  ${ms(us)}  ${pct(us)}  ${key}`)
  return lines.join('\n')
}

function functionKey(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame
  return `${functionName || '(anonymous)'}${url ? `  ${shortUrl(url)}:${lineNumber + 1}` : ''}`
}

/** Each of our functions' time with its callees: every sample counts once for each distinct function on its stack. */
function inclusiveOurs(profile: Profile, self: Map<number, number>, byId: Map<number, ProfileNode>, key: (n: ProfileNode) => string): Array<[string, number]> {
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const totals = new Map<string, number>()
  for (const [id, us] of self) {
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at)!
      if (!/\/(core|services|cli)\//.test(node.callFrame.url) || node.callFrame.url.includes('node_modules')) continue
      const k = key(node)
      if (seen.has(k)) continue
      seen.add(k)
      totals.set(k, (totals.get(k) ?? 0) + us)
    }
  }
  return [...totals].sort((a, b) => b[1] - a[1])
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, top] = process.argv.slice(2)
  if (!file) {
    console.error('usage: npx tsx bench/cpu-profile-top.ts FILE.cpuprofile [top=25]')
    process.exit(2)
  }
  console.log(summariseProfile(file, Number(top ?? 25)))
}
