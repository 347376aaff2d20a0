#!/usr/bin/env bash
# README quick start, command 1 (`npm run demo`): bring everything up and run the main job.
#   1. infra/up.sh: InfluxDB, Kafka and Mosquitto on 127.0.0.1 (installed when missing)
#   2. `senshagen devices import config/devices.json`: registers the simulated fleet and the archive devices in
#      the device registry (data/registry.sqlite); their new secrets go to infra/.state/demo-device-secrets.jsonl
#   3. `senshagen up` in Kafka mode: aedes broker :1883 (WebSocket :9001, every client authenticated) + ingest + writer
#   4. `senshagen sim`: 10 simulated Stadshagen gardens, a reading every 10 s, with 6 h of history
#   5. `senshagen replay` of every real sensor.community archive fixture in test/fixtures/
# Then it prints where to look. The services keep running; `npm run infra:down` stops everything.
# Idempotent: a second run restarts the SensHagen processes and replays again (the same points).
set -euo pipefail

cd "$(dirname "$0")/.."
RUN=$PWD/infra/.state/run
LOGS=$PWD/infra/.state/logs
say() { printf '[demo]  %s\n' "$*"; }

SECRETS=${SENSHAGEN_DEMO_SECRETS:-infra/.state/demo-device-secrets.jsonl}

# Registering is idempotent: devices already in the registry are skipped (their secrets stay as they were), so
# only a run that registered devices has secrets to save and says so.
register_devices() {
  say "registering the demo devices (config/devices.json) in the device registry"
  local issued
  issued=$(node bin/senshagen.js devices import config/devices.json --json)
  if [[ -n $issued ]]; then
    mkdir -p "$(dirname "$SECRETS")"
    ( umask 077; printf '%s\n' "$issued" >>"$SECRETS" )
    say "$(grep -c . <<<"$issued") new device secrets (shown once) saved in $SECRETS"
  else
    say "no new devices: every demo device was registered by an earlier run (its secrets are in $SECRETS)"
  fi
}
# `infra/demo.sh --register-only`: step 2 alone (test/e2e/demo-register.test.ts)
if [[ ${1-} == --register-only ]]; then register_devices; exit 0; fi

bash infra/up.sh
export SENSHAGEN_KAFKA_BROKERS=${SENSHAGEN_KAFKA_BROKERS-127.0.0.1:9092}

# stop_app NAME: stop a SensHagen process this script started before (pid file + command check)
stop_app() {
  local f=$RUN/$1.pid pid
  pid=$(cat "$f" 2>/dev/null || true)
  if [[ -n $pid && -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "senshagen.js $2"; then
    kill -TERM "$pid"
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  rm -f "$f"
}

# start_app NAME READY_TEXT ARGS...: start `senshagen ARGS` in the background, wait for READY_TEXT in its log
start_app() {
  local name=$1 ready=$2; shift 2
  stop_app "$name" "$1"
  : >"$LOGS/$name.log"
  SENSHAGEN_LOG_LEVEL=${SENSHAGEN_LOG_LEVEL:-info} nohup node bin/senshagen.js "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  for _ in $(seq 120); do
    grep -q "$ready" "$LOGS/$name.log" && { say "$name running (pid $(cat "$RUN/$name.pid"), log infra/.state/logs/$name.log)"; return; }
    kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null || { tail -n 20 "$LOGS/$name.log" >&2; say "FAILED: $name exited"; exit 1; }
    sleep 0.5
  done
  tail -n 20 "$LOGS/$name.log" >&2; say "FAILED: $name not ready after 60 s"; exit 1
}

register_devices

start_app senshagen-up 'writer running' up
start_app senshagen-sim 'backfilled' sim --devices 10 --interval 10 --backfill 6

say "replaying the real sensor.community archive fixtures"
node bin/senshagen.js replay test/fixtures/sensor-community-archive/*.csv test/fixtures/sensor-community-archive/*.json

cat <<'TXT'

[demo] SensHagen is running. Where to look:
  the residents' page (Dutch; English via the switch): http://127.0.0.1:8080/
  the researchers' API: http://127.0.0.1:8080/openapi.json, e.g.
    curl -s 'http://127.0.0.1:8080/api/v1/readings?neighbourhood=stadshagen&quantity=pm2_5&from=-6h&to=now&window=1h&format=csv'
    curl -s 'http://127.0.0.1:8080/api/v1/readings?device=sim-000,sim-001&quantity=pm2_5,pm10&from=-1h&to=now'
    curl -s 'http://127.0.0.1:8080/api/v1/neighbourhoods/stadshagen/now'    # the hour the residents' page shows
  Prometheus metrics, on their own port (not the API's: :8080/metrics is a 404):
    curl -s http://127.0.0.1:9464/metrics
  simulated gardens (sim-000 … sim-009, a reading every 10 s; air_temperature, relative_humidity,
  air_pressure, pm2_5, pm10; sim-009's owner did not consent, so it is stored but public nowhere: the page
  shows 9 sensors):
    npx senshagen query --device sim-000 --quantity air_temperature --from -1h --to now
  the replayed archive (device sc-<sensor_id>; P1 is pm10, P2 is pm2_5; pressure in hPa):
    npx senshagen query --device sc-5331 --quantity pm10 --from 2017-10-07 --to 2017-10-08 --format csv
    npx senshagen query --device sc-15093 --quantity air_pressure --from 2018-07-08 --to 2018-07-09 --format json
  what was rejected, and why:
    npx senshagen rejects
  InfluxQL straight to InfluxDB (database senshagen, measurement reading):
    curl -sG http://127.0.0.1:8086/query --data-urlencode db=senshagen \
      --data-urlencode "q=SELECT mean(value) FROM reading WHERE quantity='pm2_5' AND time > now() - 6h GROUP BY time(1h), device"
  publish your own reading to SensHagen's own broker (MQTT 3.1.1 on 127.0.0.1:1883, WebSocket :9001; every client
  needs credentials; Mosquitto on :1884 is only for tests of external brokers):
    npx senshagen devices add garden-001 --neighbourhood stadshagen --consent yes    # prints its secret once
    mosquitto_pub -p 1883 -u garden-001 -P '<secret>' -q 1 \
      -t senshagen/v1/devices/garden-001/readings -m '{"v":1,"readings":{"air_temperature":7.4}}'
    (the API shows a new device within 30 s: it re-reads the registry every 30 s)
  logs: infra/.state/logs/   stop everything: npm run infra:down
TXT
