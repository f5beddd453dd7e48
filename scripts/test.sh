#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install dependencies, build, run ctest.
# Exits non-zero when the build or any test fails. Extra arguments go to ctest (e.g. -R registry).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EQNN_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
cd "$build_dir"
exec ctest --output-on-failure -j "${EQNN_JOBS:-2}" "$@"
