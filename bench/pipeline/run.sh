#!/usr/bin/env bash
# Panda's clone+build+push against a plain script (git clone --depth 1,
# docker build, docker push) of the same fixture repository, on the same
# Docker engine, git server (git http-backend) and registry, cold and warm.
# Prints the median of each and the ratio Panda/script.
#
# Usage: bench/pipeline/run.sh          (RUNS=3 timed pairs per mode)
# Needs: the Docker engine, git, the docker CLI.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
chmod +x bench/pipeline/baseline.sh
go test -run '^$' -bench CloneBuildPush -benchtime "${RUNS}x" -timeout 30m -v ./bench/pipeline 2>&1 |
	grep -Ev '^(=== RUN|goos|goarch|pkg|cpu)' 
