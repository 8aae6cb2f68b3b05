#!/usr/bin/env bash
# The plain script Panda's clone+build+push is measured against: what a CI job
# would do by hand. It prints the milliseconds of each step.
#
# Usage: baseline.sh REPO_URL BRANCH IMAGE_REF
# Environment: GIT_AUTH, the Authorization header value for the git server
# (passed as an extra header, as Panda does, not in the URL); DOCKER_CONFIG,
# a directory already logged in to the registry.
set -euo pipefail
url=$1 branch=$2 ref=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ms() { echo $(($(date +%s%N) / 1000000)); }

t0=$(ms)
git -c "http.extraHeader=Authorization: $GIT_AUTH" clone --quiet --depth 1 --branch "$branch" -- "$url" "$dir/src"
t1=$(ms)
# The classic builder, as Panda uses (BuildKit needs a session; see pipeline/image).
DOCKER_BUILDKIT=0 docker build --quiet --tag "$ref" "$dir/src" >/dev/null 2>"$dir/build.err" || { cat "$dir/build.err" >&2; exit 1; }
t2=$(ms)
docker push --quiet "$ref" >/dev/null
t3=$(ms)
echo "clone_ms=$((t1 - t0)) build_ms=$((t2 - t1)) push_ms=$((t3 - t2))"
