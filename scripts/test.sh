#!/usr/bin/env bash
# The test command: bash scripts/test.sh [packages...]   (default ./...)
#
# On a fresh Debian 12 machine, as root, it installs what the tests need, starts Redis
# (127.0.0.1:6379) and the Docker engine unless they already answer, then runs go vet,
# staticcheck and gosec (pinned below, installed from the Go module proxy into
# PANDA_TOOLS_DIR, default ~/.cache/panda-tools) and go test. It is idempotent:
# services and tools already there are reused, and services are left running.
# With CI=true, tests that cannot reach Redis or Docker fail instead of skipping.
#
# Tunables: PANDA_TEST_TIMEOUT (go test -timeout, default 10m), PANDA_TEST_PARALLEL
# (go test -parallel, default 4), PANDA_SERVICES_DIR (service logs, default /tmp/panda-services).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# Static checkers, pinned; built from the Go module proxy (the only network CI has).
STATICCHECK_PKG=honnef.co/go/tools/cmd/staticcheck
STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2
GOSEC_PKG=github.com/securego/gosec/v2/cmd/gosec
GOSEC_VERSION=v2.30.0

started=$SECONDS
pkgs=("${@:-./...}")

step "Packages"
# redis-server: the shared Redis and the private per-test ones (internal/testenv);
# docker.io: dockerd; git: the pipeline clones; busybox-static: a base image that
# tests make with docker import, since no image can be pulled here.
# chromium: the deployment page's browser test (api).
# runc: the OCI worker of buildkitd (pipeline/image.BuildkitBuilder tests).
ensure_packages redis-server docker.io git busybox-static ca-certificates chromium runc
# npm runs asl-validator on the shipped state machine (deploy/aws), and node runs the
# reference JSONata implementation internal/awstest evaluates that state machine with.
# Machines that have Node.js from elsewhere have npm with it; Debian's npm would
# conflict then. npm also installs Swagger UI (api/swaggerui).
command -v npm >/dev/null 2>&1 || ensure_packages nodejs npm
ensure_go
ensure_redis
ensure_dockerd
ensure_buildkitd
ensure_npm_modules deploy/aws
ensure_npm_modules internal/awstest/jsonata
# Swagger UI's files: the api tests load /swagger-ui/ in Chromium.
ensure_npm_modules api/swaggerui

# Passed on as given: CI=true turns a missing service into a test failure.
export CI="${CI-}"

step "go vet ${pkgs[*]}"
go vet "${pkgs[@]}"

# Static checks: each finding fails the script. An exception is justified where it
# is made, with "//lint:ignore CHECK reason" (staticcheck) or "// #nosec G### -- reason"
# (gosec); staticcheck.conf, if any, applies repository-wide.
step "staticcheck $STATICCHECK_VERSION ${pkgs[*]}"
lint_started=$SECONDS
staticcheck=$(go_tool "$STATICCHECK_PKG" "$STATICCHECK_VERSION")
"$staticcheck" "${pkgs[@]}"

step "gosec $GOSEC_VERSION ${pkgs[*]}"
gosec=$(go_tool "$GOSEC_PKG" "$GOSEC_VERSION")
# Test files are not scanned (gosec's default): they hold test keys and temp paths
# by design. bench/ is excluded: its commands are load generators an operator runs
# by hand against 127.0.0.1, taking URLs and file paths from their own flags, which
# is what G304/G704/G204 flag; nothing in bench/ ships in a Panda binary.
"$gosec" -quiet -fmt text -exclude-dir=bench "${pkgs[@]}"
info "static checks took $((SECONDS - lint_started)) s"

# -p 2: two packages at a time on two cores. -parallel 4: many tests wait on Redis,
# Docker or a test server rather than compute, so a few more than the cores helps.
step "go test (CI=${CI:-unset}) ${pkgs[*]}"
go test -count=1 -p 2 -parallel "${PANDA_TEST_PARALLEL:-4}" -timeout "${PANDA_TEST_TIMEOUT:-10m}" "${pkgs[@]}"

step "All checks passed in $((SECONDS - started)) s"
