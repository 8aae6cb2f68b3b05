#!/usr/bin/env bash
# The plain script Panda's buildkitd builder is measured against: git clone and
# one buildctl build on the same buildkitd, pushing straight to the registry
# with the same registry build cache Panda keeps (mode=max, image manifest,
# OCI media types, imported from and exported to CACHE_REF). It prints the
# milliseconds of each step (the push is part of the build: push_ms=0) and
# the number of steps its log reported CACHED.
#
# Usage: baseline-buildctl.sh REPO_URL BRANCH IMAGE_REF CACHE_REF
# Environment: GIT_AUTH as for baseline.sh; DOCKER_CONFIG, logged in to the
# registry (buildctl reads the docker config for registry auth); BUILDCTL, the
# buildctl binary; BUILDKIT_HOST, the buildkitd address.
set -euo pipefail
url=$1 branch=$2 ref=$3 cache=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ms() { echo $(($(date +%s%N) / 1000000)); }

t0=$(ms)
git -c "http.extraHeader=Authorization: $GIT_AUTH" clone --quiet --depth 1 --branch "$branch" -- "$url" "$dir/src"
t1=$(ms)
"$BUILDCTL" build --progress=plain --frontend dockerfile.v0 \
	--local context="$dir/src" --local dockerfile="$dir/src" \
	--output "type=image,name=$ref,push=true" \
	--export-cache "type=registry,ref=$cache,mode=max,image-manifest=true,oci-mediatypes=true" \
	--import-cache "type=registry,ref=$cache" 2>"$dir/build.err" || { cat "$dir/build.err" >&2; exit 1; }
t2=$(ms)
# The steps the build log reports as CACHED, so a cold run can be seen to be cold.
# A FROM is not counted, as in the bench's count of Panda's log.
from=$(grep -oE '^#[0-9]+ \[[^]]*\] FROM ' "$dir/build.err" | cut -d' ' -f1 | sort -u | tr '\n' '|')
cached=$(grep -E '^#[0-9]+ CACHED$' "$dir/build.err" | grep -cvE "^(${from%|}) CACHED$" || true)
echo "clone_ms=$((t1 - t0)) build_ms=$((t2 - t1)) push_ms=0 cached=$cached"
