# shellcheck shell=bash
# Shared steps of scripts/test.sh and scripts/dev.sh: install what is missing, start
# Redis and the Docker engine unless they already answer. Source it; it changes nothing
# by itself. Every step reuses what is already there, so running a script twice works.

# Where the services this file starts keep their logs and pid files. Outside the
# repository, so one Redis and one dockerd serve every clone on the machine.
PANDA_SERVICES_DIR="${PANDA_SERVICES_DIR:-/tmp/panda-services}"
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
DOCKERD_START_TIMEOUT="${DOCKERD_START_TIMEOUT:-60}"

# Where go_tool keeps the Go commands it installs, one directory per version, so
# changing a pin installs it afresh.
PANDA_TOOLS_DIR="${PANDA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/panda-tools}"

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf '\nERROR: %s\n' "$*" >&2
  exit 1
}

# as_root runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (run this script as root, or install sudo)"
  fi
}

# ensure_packages installs the Debian packages among its arguments that are not
# installed, running apt-get update once first, and only if something is missing.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    info "packages present: $*"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]}, and no apt-get to install them"
  step "Installing ${missing[*]}"
  # Keep package scripts from starting services (redis-server, docker) with their
  # distribution defaults: this file starts them itself with the settings tests need.
  local policy=/usr/sbin/policy-rc.d created_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    created_policy=1
  fi
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    rc=$?
  [ -n "$created_policy" ] && as_root rm -f "$policy"
  [ $rc -eq 0 ] || die "apt-get could not install ${missing[*]} (exit $rc)"
}

# ensure_go puts the Go toolchain on PATH (a new machine has it in /usr/local/go).
ensure_go() {
  if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null 2>&1 || die "go is not installed (expected on PATH or in /usr/local/go/bin)"
  info "$(go version)"
}

redis_answers() {
  [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

# ensure_redis starts redis-server on 127.0.0.1:6379 unless something answers PING
# there. The one it starts keeps nothing on disk and never evicts (Panda's queues
# and records must not silently disappear, so Panda refuses any other policy).
ensure_redis() {
  step "Redis on $REDIS_HOST:$REDIS_PORT"
  if redis_answers; then
    local policy
    policy=$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" config get maxmemory-policy 2>/dev/null | sed -n 2p)
    info "already running (maxmemory-policy ${policy:-unknown}); reusing it"
    [ "$policy" = noeviction ] || info "WARNING: Panda refuses a Redis whose maxmemory-policy is not noeviction"
    return 0
  fi
  mkdir -p "$PANDA_SERVICES_DIR"
  redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" --daemonize yes \
    --save '' --appendonly no --maxmemory-policy noeviction \
    --dir "$PANDA_SERVICES_DIR" --logfile "$PANDA_SERVICES_DIR/redis.log" \
    --pidfile "$PANDA_SERVICES_DIR/redis.pid" ||
    die "redis-server did not start; see $PANDA_SERVICES_DIR/redis.log"
  local i
  for i in $(seq 100); do
    if redis_answers; then
      info "started (log: $PANDA_SERVICES_DIR/redis.log)"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$PANDA_SERVICES_DIR/redis.log" >&2 2>/dev/null
  die "redis-server started but does not answer PING on $REDIS_HOST:$REDIS_PORT"
}

docker_answers() {
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# ensure_dockerd starts the Docker engine in the background unless the daemon
# already answers, and waits until it does. Only the default socket is managed: a
# DOCKER_HOST pointing elsewhere must already answer.
ensure_dockerd() {
  step "Docker engine (${DOCKER_HOST:-unix:///var/run/docker.sock})"
  if docker_answers; then
    info "already running (server $(docker version --format '{{.Server.Version}}' 2>/dev/null)); reusing it"
    return 0
  fi
  case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
  unix:///var/run/docker.sock | unix:///run/docker.sock) ;;
  *) die "DOCKER_HOST=$DOCKER_HOST does not answer, and only the local default socket is started here" ;;
  esac
  mkdir -p "$PANDA_SERVICES_DIR"
  local log="$PANDA_SERVICES_DIR/dockerd.log"
  # vfs works on any filesystem (no overlay inside a sandbox); no iptables or bridge
  # because this machine may not have them, and test containers need no network.
  # setsid: the daemon outlives this script and ignores a Ctrl-C meant for dev.sh.
  # Not through as_root: a function run with & is a subshell, and $! must be dockerd.
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" setsid dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
    </dev/null >>"$log" 2>&1 &
  local pid=$! i
  for i in $(seq $((DOCKERD_START_TIMEOUT * 2))); do
    if docker_answers; then
      info "started in about $((i / 2)) s (log: $log)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.5
  done
  printf '\n--- last lines of %s ---\n' "$log" >&2
  tail -n 30 "$log" >&2
  if kill -0 "$pid" 2>/dev/null; then
    die "dockerd did not answer within ${DOCKERD_START_TIMEOUT} s (still running as pid $pid)"
  fi
  die "dockerd exited before answering"
}

# BuildKit for the buildkitd builder (pipeline/image.BuildkitBuilder), pinned with the
# github.com/moby/buildkit client in go.mod.
BUILDKIT_PKG=github.com/moby/buildkit/cmd
BUILDKIT_VERSION=v0.18.2
BUILDKITD_START_TIMEOUT="${BUILDKITD_START_TIMEOUT:-60}"
# The socket of the buildkitd this file starts; tests find it in PANDA_TEST_BUILDKIT_ADDR.
BUILDKITD_SOCKET="${BUILDKITD_SOCKET:-$PANDA_SERVICES_DIR/buildkitd/buildkitd.sock}"

buildkitd_answers() {
  "$1" --addr "unix://$BUILDKITD_SOCKET" debug workers >/dev/null 2>&1
}

# ensure_buildkitd installs buildkitd and buildctl (go install, into PANDA_TOOLS_DIR)
# and starts buildkitd on BUILDKITD_SOCKET unless it already answers there, then
# exports PANDA_TEST_BUILDKIT_ADDR. Needs runc (Debian's package) for the OCI worker.
# The native snapshotter works on any filesystem (no overlay in a sandbox);
# --oci-worker-net=host because this machine has no CNI plugins (test builds need no
# network; production runs rootless buildkitd, see docs/OPERATIONS.md). The config
# lets it reach an OCI registry on 127.0.0.1 over plain HTTP (BuildKit already does
# so for loopback hosts; the entry makes it explicit for PANDA_TEST_REGISTRY).
ensure_buildkitd() {
  step "buildkitd (unix://$BUILDKITD_SOCKET)"
  local buildkitd buildctl
  buildkitd=$(go_tool "$BUILDKIT_PKG/buildkitd" "$BUILDKIT_VERSION")
  buildctl=$(go_tool "$BUILDKIT_PKG/buildctl" "$BUILDKIT_VERSION")
  export PANDA_TEST_BUILDKIT_ADDR="unix://$BUILDKITD_SOCKET"
  if buildkitd_answers "$buildctl"; then
    info "already running; reusing it"
    return 0
  fi
  command -v runc >/dev/null 2>&1 || die "runc is missing (ensure_packages runc)"
  local dir
  dir=$(dirname "$BUILDKITD_SOCKET")
  mkdir -p "$dir"
  local log="$PANDA_SERVICES_DIR/buildkitd.log" config="$dir/buildkitd.toml"
  cat >"$config" <<TOML
# Written by scripts/lib.sh ensure_buildkitd: a test builder only.
[registry."${PANDA_TEST_REGISTRY:-127.0.0.1:5000}"]
  http = true
  insecure = true
TOML
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" setsid "$buildkitd" --config "$config" --addr "unix://$BUILDKITD_SOCKET" \
    --root "$dir/state" --oci-worker-snapshotter=native --oci-worker-net=host \
    --containerd-worker=false </dev/null >>"$log" 2>&1 &
  local pid=$! i
  for i in $(seq $((BUILDKITD_START_TIMEOUT * 2))); do
    if buildkitd_answers "$buildctl"; then
      info "started in about $((i / 2)) s (log: $log)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 30 "$log" >&2
  die "buildkitd did not answer on $BUILDKITD_SOCKET"
}

# go_tool prints the path of the command built from the Go package $1 at version $2,
# installing it with go install into $PANDA_TOOLS_DIR/<name>@<version> first if missing.
# go install pkg@version builds outside this module, so the tool's dependencies never
# enter go.mod. Progress goes to stderr; stdout is only the path.
go_tool() {
  local pkg=$1 version=$2 name=${1##*/}
  local dir="$PANDA_TOOLS_DIR/$name@$version"
  if [ ! -x "$dir/$name" ]; then
    info "installing $pkg@$version into $dir" >&2
    GOBIN="$dir" GOFLAGS='' go install "$pkg@$version" >&2 ||
      die "go install $pkg@$version failed (the Go module proxy must be reachable)"
  fi
  printf '%s\n' "$dir/$name"
}

# ensure_npm_modules installs the npm packages locked in DIR/package-lock.json
# (from the npm registry) unless npm finds them installed as locked.
ensure_npm_modules() {
  local dir=$1
  if (cd "$dir" && npm ls --all >/dev/null 2>&1); then
    info "npm modules present: $dir"
    return 0
  fi
  step "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $dir"
}
