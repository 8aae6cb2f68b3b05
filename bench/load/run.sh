#!/usr/bin/env bash
# Load run of Panda's webhook intake, all on 127.0.0.1:
#   - a private redis-server (own port, no persistence, noeviction),
#   - the GitHub API test server (internal/githubtest, hosted by a test binary),
#   - the built app and worker binaries,
#   - bench/load offering signed push deliveries at RATE/s for DURATION.
# The worker consumes the queue as in production: each push costs it an
# installation token (cached) and a contents lookup of .panda.yml that
# answers 404 (the repository does not deploy), so the app answers while the
# worker competes for the same two cores.
#
# Usage: bench/load/run.sh            (2,000/s for 60 s)
#        RATE=500 DURATION=10s bench/load/run.sh
# Environment: RATE, DURATION, OUT (default bench/load/out), WORKER=0 to run
# without the worker, DRAIN (default 60) seconds to wait for the worker to
# empty the queue after the load, APP_BIN to run that app binary instead of
# one built from this tree (to measure a before and an after back to back:
# go build -o /tmp/app-before ./cmd/app at the old commit, then
# APP_BIN=/tmp/app-before bench/load/run.sh; bench/load/run.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

RATE=${RATE:-2000}
DURATION=${DURATION:-60s}
OUT=${OUT:-bench/load/out}
WORKER=${WORKER:-1}
DRAIN=${DRAIN:-60}

mkdir -p "$OUT"
work=$(mktemp -d /tmp/panda-load.XXXXXX)
pids=()
cleanup() {
	# Only the processes this script started, by pid.
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	# Keep the logs (compressed) for a look at what went wrong.
	for f in app worker github redis; do [ -f "$work/$f.log" ] && gzip -c "$work/$f.log" >"$OUT/$f.log.gz"; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	local p
	for p in $(shuf -i 20000-45000 -n 50); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "no free port found" >&2
	exit 1
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
	local secs=$1 what=$2; shift 2
	for _ in $(seq $((secs * 10))); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "$what did not come up within ${secs}s" >&2
	exit 1
}

echo "== build"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/app ./cmd/worker ./bench/load
if [ -n "${APP_BIN:-}" ]; then cp "$APP_BIN" "$work/bin/app"; echo "app binary: $APP_BIN"; fi
go test -c -o "$work/bin/github.test" ./bench/load

echo "== start redis, GitHub test server, app, worker"
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --logfile "$work/redis.log" \
	--save '' --appendonly no --maxmemory-policy noeviction &
pids+=($!)
redis_url="redis://127.0.0.1:$redis_port/0"
wait_for 10 redis-server redis-cli -p "$redis_port" ping

PANDA_LOAD_GITHUB_ENV="$work/github.env" "$work/bin/github.test" -test.run '^TestServeGitHub$' -test.timeout 30m \
	>"$work/github.log" 2>&1 &
pids+=($!)
wait_for 30 "GitHub test server" test -s "$work/github.env"

head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/secret"
app_port=$(free_port)
common_env=(
	PATH="$PATH" HOME="$work"
	PANDA_REDIS_URL="$redis_url"
	PANDA_PUBLIC_URL="http://127.0.0.1:$app_port"
	PANDA_LOG_LEVEL=info
	PANDA_WORK_DIR="$work"
	AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
)
while IFS= read -r line; do common_env+=("$line"); done <"$work/github.env"

env -i "${common_env[@]}" PANDA_ADDR="127.0.0.1:$app_port" \
	GITHUB_WEBHOOK_SECRET="$(cat "$work/secret")" \
	PANDA_API_TOKEN="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	"$work/bin/app" 2>"$work/app.log" &
pids+=($!)
wait_for 20 app curl -sf "http://127.0.0.1:$app_port/readyz"

if [ "$WORKER" != 0 ]; then
	env -i "${common_env[@]}" "$work/bin/worker" 2>"$work/worker.log" &
	pids+=($!)
fi

# CPU seconds a process has used so far (user + system), from /proc.
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
names=(redis github app worker)
declare -A cpu_before
for i in "${!pids[@]}"; do cpu_before[$i]=$(cpu_secs "${pids[$i]}"); done

echo "== load: $RATE/s for $DURATION (worker: $([ "$WORKER" != 0 ] && echo on || echo off))"
"$work/bin/load" -url "http://127.0.0.1:$app_port/webhook" -secret-file "$work/secret" \
	-rate "$RATE" -duration "$DURATION" -redis "$redis_url" -out "$OUT" | tee "$work/load.out"
accepted=$(sed -n 's/^achieved .*(\([0-9]*\) accepted in.*/\1/p' "$work/load.out")

echo "== CPU used during the load (2 cores = 2 CPU-s per second; machine load average: $(cut -d' ' -f1-3 /proc/loadavg))"
for i in "${!pids[@]}"; do
	used=$(echo "$(cpu_secs "${pids[$i]}") - ${cpu_before[$i]}" | bc)
	echo "${names[$i]}: ${used} CPU-s"
	if [ "${names[$i]}" = app ] && [ "${accepted:-0}" -gt 0 ]; then
		echo "app per accepted delivery: $(echo "scale=1; $used * 1000000 / $accepted" | bc) CPU-µs ($accepted accepted)"
	fi
done

if [ "$WORKER" != 0 ]; then
	echo "== worker drains the queue (at most ${DRAIN}s)"
	start=$(date +%s)
	while :; do
		left=$(($(redis-cli -p "$redis_port" LLEN 'asynq:{webhooks}:pending') + $(redis-cli -p "$redis_port" LLEN 'asynq:{webhooks}:active')))
		now=$(date +%s)
		if [ "$left" -eq 0 ] || [ $((now - start)) -ge "$DRAIN" ]; then break; fi
		sleep 1
	done
	echo "webhook tasks still queued: $left after $((now - start))s"
	echo "worker: $(grep -c 'nothing to deploy' "$work/worker.log" || true) push tasks handled (no .panda.yml), $(grep -c '"level":"ERROR"' "$work/worker.log" || true) error lines"
fi
echo "redis: $(redis-cli -p "$redis_port" INFO memory | grep -E '^used_memory_human' | tr -d '\r'), keys $(redis-cli -p "$redis_port" DBSIZE)"
echo "app: $(grep -c 'webhook queued' "$work/app.log" || true) deliveries queued, $(grep -c '"level":"ERROR"' "$work/app.log" || true) error lines"
grep -h '"level":"ERROR"' "$work/app.log" "$work/worker.log" 2>/dev/null | grep -o '"msg":"[^"]*","err":"[^"]\{0,80\}' | sort | uniq -c | sort -rn | head -5 || true
