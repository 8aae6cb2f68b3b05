#!/usr/bin/env bash
# The plain script Panda's engine builder is measured against: what a CI job
# would do by hand with the Docker engine's BuildKit. It prints the
# milliseconds of each step.
#
# Usage: baseline.sh REPO_URL BRANCH IMAGE_REF
# Environment: GIT_AUTH, the Authorization header value for the git server
# (passed as an extra header, as Panda does, not in the URL); DOCKER_CONFIG,
# a directory already logged in to the registry; DOCKER_SOCK, the engine's
# socket (default /var/run/docker.sock).
#
# The docker CLI here (28.x) refuses DOCKER_BUILDKIT=1 without the buildx
# plugin, which is absent, so the build is the Engine API call the CLI would
# make: POST /build?version=2 (BuildKit) with the context as a tar that
# honours .dockerignore (GNU tar -X takes its simple patterns, *.md and .git).
# networkmode=none: the engine runs with --bridge=none.
set -euo pipefail
url=$1 branch=$2 ref=$3
sock=${DOCKER_SOCK:-/var/run/docker.sock}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ms() { echo $(($(date +%s%N) / 1000000)); }

t0=$(ms)
git -c "http.extraHeader=Authorization: $GIT_AUTH" clone --quiet --depth 1 --branch "$branch" -- "$url" "$dir/src"
t1=$(ms)
tar -C "$dir/src" -X "$dir/src/.dockerignore" -c . |
	curl --silent --show-error --fail --unix-socket "$sock" -X POST \
		-H 'Content-Type: application/x-tar' --data-binary @- \
		"http://engine/build?version=2&networkmode=none&t=$ref" >"$dir/build.log" # $ref needs no escaping: [a-z0-9.:/-]
# The engine reports a failed build inside a 200 stream.
if grep -q '"errorDetail"' "$dir/build.log"; then cat "$dir/build.log" >&2; exit 1; fi
t2=$(ms)
docker push --quiet "$ref" >/dev/null
t3=$(ms)
# cached=-1: the engine's log is BuildKit status in base64 protobuf, not read here.
echo "clone_ms=$((t1 - t0)) build_ms=$((t2 - t1)) push_ms=$((t3 - t2)) cached=-1"
