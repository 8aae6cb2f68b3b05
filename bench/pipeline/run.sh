#!/usr/bin/env bash
# Panda's clone+build+push against a plain script of the same fixture, for
# each BuildKit builder (the Docker engine's, and a buildkitd of the
# benchmark's own against buildctl), cold and warm, then a second worker's
# cold build with and without the registry cache. Prints medians, min–max,
# ratios and load averages, and writes the chart (CHART, default
# docs/pipeline-chart.svg).
#
# Usage: bench/pipeline/run.sh          (RUNS=3 timed pairs per mode)
# Needs: the Docker engine, git, curl, the docker CLI, runc; buildkitd and
# buildctl are installed by scripts/lib.sh's go_tool when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../../scripts/lib.sh
source scripts/lib.sh
export RUNS=${RUNS:-3}
export PANDA_BENCH_CHART=${CHART:-$PWD/docs/pipeline-chart.svg}
PANDA_BENCH_BUILDKITD=$(go_tool "$BUILDKIT_PKG/buildkitd" "$BUILDKIT_VERSION")
PANDA_BENCH_BUILDCTL=$(go_tool "$BUILDKIT_PKG/buildctl" "$BUILDKIT_VERSION")
export PANDA_BENCH_BUILDKITD PANDA_BENCH_BUILDCTL
chmod +x bench/pipeline/*.sh
echo "uptime before: $(uptime)"
go test -run '^$' -bench CloneBuildPush -benchtime 1x -timeout 60m -v ./bench/pipeline 2>&1 |
	grep -Ev '^(=== RUN|goos|goarch|pkg|cpu)'
echo "uptime after: $(uptime)"
