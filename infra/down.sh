#!/usr/bin/env bash
# Stop what infra/up.sh started (run by `npm run infra:down`). Idempotent.
# Only the pids recorded in infra/.state/run/ are signalled, and only if they still
# are the expected program; data in infra/.state/ is kept.
set -euo pipefail

cd "$(dirname "$0")/.."
RUN=$PWD/infra/.state/run
declare -A MATCH=([influxdb]=influxd [kafka]=kafka.Kafka [mosquitto]=mosquitto
                  [senshagen-sim]='senshagen.js sim' [senshagen-up]='senshagen.js up')
say() { printf '[infra] %-9s %s\n' "$1" "$2"; }

# reverse start order: the demo's SensHagen processes (infra/demo.sh) first, Kafka before InfluxDB
for name in senshagen-sim senshagen-up mosquitto kafka influxdb; do
  f=$RUN/$name.pid
  pid=$(cat "$f" 2>/dev/null || true)
  if [[ -z $pid || ! -r /proc/$pid/cmdline ]] ||
     ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "${MATCH[$name]}"; then
    say "$name" "not running (or not started from this checkout)"
    rm -f "$f"
    continue
  fi
  # SIGTERM lets Kafka do a clean shutdown (faster next start, no log recovery).
  kill -TERM "$pid"
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    say "$name" "killed (pid $pid did not stop within 30 s)"
  else
    say "$name" "stopped (pid $pid)"
  fi
  rm -f "$f"
done
