#!/usr/bin/env bash
# Runs Panda on this machine for development.
#
#   bash scripts/dev.sh                        Redis and dockerd (started if needed), build
#                                              bin/app and bin/worker, run both until Ctrl-C
#   bash scripts/dev.sh webhook EVENT [FILE]   send FILE (default: a ping) to the running app
#                                              as a GitHub webhook signed with the dev secret
#   bash scripts/dev.sh demo [FLAGS]           a deployment to watch, no accounts needed: the
#                                              GitHub and AWS test servers, a registry, a git
#                                              server with a sample repository, the real app
#                                              and worker, a push and a /deploy; prints two
#                                              links and runs until Ctrl-C (FLAGS: bin/demo -help)
#
# The first run writes a throwaway configuration to .dev/env (secrets, API token,
# encryption key and a GitHub App key that GitHub does not know). Variables already in
# the environment win over .dev/env: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE
# (and GITHUB_WEBHOOK_SECRET) to talk to a real App.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

DEV_DIR=.dev
ENV_FILE=$DEV_DIR/env

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# init_config writes .dev/env once; later runs keep its secrets, so stored AWS
# connections stay readable (they are encrypted with PANDA_ENCRYPTION_KEY).
init_config() {
  if [ -f "$ENV_FILE" ]; then
    info "configuration: $ENV_FILE (delete it to start over)"
    return 0
  fi
  step "Writing a throwaway configuration to $ENV_FILE"
  # Owner-only: the file holds secrets.
  (
    umask 077
    mkdir -p "$DEV_DIR"
    openssl genrsa -out "$DEV_DIR/github-app.pem" 2048 2>/dev/null
    {
      echo "# Written by scripts/dev.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). The environment wins over these."
      echo "GITHUB_WEBHOOK_SECRET=$(random_hex 32)"
      echo "PANDA_API_TOKEN=$(random_hex 32)"
      echo "PANDA_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)"
      echo "# A key GitHub has never seen: enough to start; calls to GitHub will be refused."
      echo "GITHUB_APP_ID=1"
      echo "GITHUB_APP_PRIVATE_KEY_FILE=$PWD/$DEV_DIR/github-app.pem"
    } >"$ENV_FILE"
  )
  info "written (owner-only); add /.dev/ to .gitignore if it is not there"
}

# load_config exports each KEY=VALUE of .dev/env that the environment does not
# already set. A private key given inline in GITHUB_APP_PRIVATE_KEY also keeps the
# throwaway key file out.
load_config() {
  local line key value
  while IFS= read -r line; do
    # Split by hand: read with IFS='=' drops the trailing '=' of a base64 value.
    key="${line%%=*}" value="${line#*=}"
    case "$key" in '' | '#'*) continue ;; esac
    [ -n "${!key+x}" ] && continue
    if [ "$key" = GITHUB_APP_PRIVATE_KEY_FILE ] && [ -n "${GITHUB_APP_PRIVATE_KEY:-}" ]; then
      continue
    fi
    export "$key=$value"
  done <"$ENV_FILE"
  export PANDA_ADDR="${PANDA_ADDR:-:8080}"
  export PANDA_REDIS_URL="${PANDA_REDIS_URL:-redis://127.0.0.1:6379/0}"
  export PANDA_PUBLIC_URL="${PANDA_PUBLIC_URL:-$(local_url)}"
  export PANDA_SWAGGER_UI_DIR="${PANDA_SWAGGER_UI_DIR:-$PWD/api/swaggerui/node_modules/swagger-ui-dist}"
  # dockerd as scripts/lib.sh starts it has no bridge (--bridge=none): RUN steps build without a network.
  export PANDA_BUILD_NETWORK="${PANDA_BUILD_NETWORK:-none}"
}

# local_url turns PANDA_ADDR (":8080", "127.0.0.1:9000") into a URL to open locally.
local_url() {
  local addr="${PANDA_ADDR:-:8080}" host
  host="${addr%:*}"
  echo "http://${host:-localhost}:${addr##*:}"
}

build() {
  local cmd
  for cmd in app worker; do
    [ -d "cmd/$cmd" ] || die "cmd/$cmd does not exist yet: nothing to run"
  done
  step "Building bin/app and bin/worker"
  go build -o bin/app ./cmd/app
  go build -o bin/worker ./cmd/worker
}

pids=()

# prefix labels each line of its input. It ignores Ctrl-C so that it still shows what
# the binaries log while they shut down.
prefix() {
  trap '' INT
  exec sed -u "s/^/$1/"
}

# stop asks both processes to shut down gracefully and kills what is left after 15 s.
stop() {
  trap - INT TERM
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local i
  for i in $(seq 30); do
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}

run() {
  local url
  url=$(local_url)
  step "Starting app ($url) and worker; Ctrl-C stops both"
  bin/app > >(prefix 'app    | ') 2>&1 &
  pids+=($!)
  bin/worker > >(prefix 'worker | ') 2>&1 &
  pids+=($!)
  trap 'stop; exit 130' INT
  trap 'stop; exit 143' TERM
  cat <<MSG
    Health:        curl $url/healthz
    Test webhook:  bash scripts/dev.sh webhook ping
                   bash scripts/dev.sh webhook push path/to/push.json
    API docs:      $url/swagger-ui/
    API:           curl -H "Authorization: Bearer \$(grep ^PANDA_API_TOKEN= $ENV_FILE | cut -d= -f2-)" $url/api/v1/connections
MSG
  local status=0
  wait -n "${pids[@]}" || status=$?
  info "a process exited (status $status); stopping the other"
  stop
  exit "$status"
}

# send_webhook posts a payload to the running app the way GitHub does, with an
# X-Hub-Signature-256 HMAC made from GITHUB_WEBHOOK_SECRET.
send_webhook() {
  local event="${1:?usage: scripts/dev.sh webhook EVENT [FILE]}" file="${2:-}" body sig
  [ -f "$ENV_FILE" ] || die "no $ENV_FILE yet: run bash scripts/dev.sh first"
  load_config
  if [ -n "$file" ]; then
    body=$(cat "$file")
  else
    body='{"zen":"Keep it logically awesome.","hook_id":1}'
  fi
  # The secret appears in openssl's arguments for a moment: acceptable for the local,
  # throwaway secret this command is meant for.
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$GITHUB_WEBHOOK_SECRET" -r | cut -d' ' -f1)
  curl -sS -i -X POST "$(local_url)/webhook" \
    -H 'Content-Type: application/json' \
    -H "X-GitHub-Event: $event" \
    -H "X-GitHub-Delivery: dev-$(random_hex 8)" \
    -H "X-Hub-Signature-256: sha256=$sig" \
    --data-binary "$body"
  echo
}

# demo builds the binaries and the demo program (internal/demo) and runs it in
# the foreground: it starts its own Redis and servers on 127.0.0.1 and needs no
# .dev/env. Ctrl-C reaches it and the binaries it started; it stops them and
# removes what it made.
demo() {
  step "Packages"
  ensure_packages redis-server docker.io git ca-certificates busybox-static
  ensure_go
  ensure_dockerd
  build
  go build -o bin/demo ./internal/demo/cmd/demo
  mkdir -p "$DEV_DIR"
  step "Starting the demo; Ctrl-C stops it"
  exec bin/demo -app bin/app -worker bin/worker -logs "$DEV_DIR/demo.log" "$@"
}

main() {
  if [ "${1:-}" = demo ]; then
    shift
    demo "$@"
    return
  fi
  if [ "${1:-}" = webhook ]; then
    shift
    send_webhook "$@"
    return
  fi
  step "Packages"
  ensure_packages redis-server docker.io git ca-certificates openssl curl
  ensure_go
  ensure_redis
  ensure_dockerd
  # Swagger UI's files (api/swaggerui, served at /swagger-ui/).
  command -v npm >/dev/null 2>&1 || ensure_packages nodejs npm
  ensure_npm_modules api/swaggerui
  init_config
  load_config
  build
  run
}

main "$@"
