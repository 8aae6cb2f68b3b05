#!/usr/bin/env bash
# The test command: bash scripts/test.sh [packages...]   (default ./...)
#
# On a fresh Debian 12 machine, as root, it installs what the tests need, starts Redis
# (127.0.0.1:6379) and the Docker engine unless they already answer, then runs go vet
# and go test. It is idempotent: services already up are reused and left running.
# With CI=true, tests that cannot reach Redis or Docker fail instead of skipping.
#
# Tunables: PANDA_TEST_TIMEOUT (go test -timeout, default 10m), PANDA_TEST_PARALLEL
# (go test -parallel, default 4), PANDA_SERVICES_DIR (service logs, default /tmp/panda-services).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

started=$SECONDS
pkgs=("${@:-./...}")

step "Packages"
# redis-server: the shared Redis and the private per-test ones (internal/testenv);
# docker.io: dockerd; git: the pipeline clones; busybox-static: a base image that
# tests make with docker import, since no image can be pulled here.
ensure_packages redis-server docker.io git busybox-static ca-certificates
ensure_go
ensure_redis
ensure_dockerd

# Passed on as given: CI=true turns a missing service into a test failure.
export CI="${CI-}"

step "go vet ${pkgs[*]}"
go vet "${pkgs[@]}"

# -p 2: two packages at a time on two cores. -parallel 4: many tests wait on Redis,
# Docker or a test server rather than compute, so a few more than the cores helps.
step "go test (CI=${CI:-unset}) ${pkgs[*]}"
go test -count=1 -p 2 -parallel "${PANDA_TEST_PARALLEL:-4}" -timeout "${PANDA_TEST_TIMEOUT:-10m}" "${pkgs[@]}"

step "All checks passed in $((SECONDS - started)) s"
