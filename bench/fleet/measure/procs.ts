import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'

/**
 * CPU time and memory of a process from Linux's /proc (proc(5)): all its threads together, so a Node process's
 * libuv pool (scrypt logins, zlib) and a JVM's GC threads count too.
 */

const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/** A process the benchmark measures. `own` ones are started by the benchmark; the others are shared daemons. */
export interface ProcessRef {
  name: string
  pid: number
  own: boolean
}

/** utime + stime in seconds (/proc/<pid>/stat fields 14 and 15), 0 once the process is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the command name, which is in parentheses and may itself contain spaces or ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S
  } catch {
    return 0
  }
}

/** A `Vm*` line of /proc/<pid>/status in bytes (VmHWM = peak resident set, VmRSS = resident now), 0 when gone. */
export function statusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/**
 * Resets the process's peak RSS (VmHWM) to its current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux ≥ 4.0),
 * so each step's peak is its own. Only for processes the benchmark started. Returns false where not allowed.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** The first process whose command line matches `pattern` (arguments joined by spaces), if any. */
export function findProcess(pattern: RegExp): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ')
      if (pattern.test(cmdline)) return Number(entry)
    } catch {
      // gone meanwhile
    }
  }
  return undefined
}

/** The machine's load averages (1, 5, 15 min) from /proc/loadavg. */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number)
  return [a!, b!, c!]
}

/**
 * Measures a set of processes over a window: CPU seconds used, and peak RSS. For own processes the peak is
 * VmHWM after a reset at the start; shared daemons (Kafka's JVM, influxd) are not touched, their RSS is sampled
 * (`sample()`, called by the step's poll loop) and the maximum kept.
 */
export class ProcessWindow {
  private readonly cpuStart = new Map<number, number>()
  private readonly rssMax = new Map<number, number>()
  private readonly hwmReset = new Set<number>()

  constructor(private readonly processes: ProcessRef[]) {
    for (const p of processes) {
      if (p.own && resetPeakRss(p.pid)) this.hwmReset.add(p.pid)
      this.cpuStart.set(p.pid, cpuSeconds(p.pid))
    }
    this.sample()
  }

  sample(): void {
    for (const p of this.processes) this.rssMax.set(p.pid, Math.max(this.rssMax.get(p.pid) ?? 0, statusBytes(p.pid, 'VmRSS')))
  }

  /** Per process: CPU seconds in the window and peak RSS bytes (VmHWM since the reset, else the sampled maximum). */
  finish(): Array<ProcessRef & { cpuS: number; peakRssBytes: number; peakFrom: 'VmHWM' | 'sampled' }> {
    this.sample()
    return this.processes.map((p) => {
      const hwm = this.hwmReset.has(p.pid)
      return {
        ...p,
        cpuS: cpuSeconds(p.pid) - (this.cpuStart.get(p.pid) ?? 0),
        peakRssBytes: hwm ? Math.max(statusBytes(p.pid, 'VmHWM'), this.rssMax.get(p.pid) ?? 0) : (this.rssMax.get(p.pid) ?? 0),
        peakFrom: hwm ? 'VmHWM' : 'sampled',
      }
    })
  }
}
