#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install dependencies, build, run.
# The main job is `eqnn demo`: a D8-equivariant transformer and its stock twin trained side by side.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EQNN_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
echo
"$build_dir/bin/eqnn" --version
echo
exec "$build_dir/bin/eqnn" demo "$@"
