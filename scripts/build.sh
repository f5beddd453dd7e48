#!/usr/bin/env bash
# Installs missing dependencies, configures into build/ (or $EQNN_BUILD_DIR) and builds with -j2.
# Used by demo.sh and test.sh; extra arguments go to the configure step (e.g. -DCMAKE_BUILD_TYPE=Debug).
# CMake finds LibTorch through the project venv's Python ($EQNN_VENV, default .venv/).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EQNN_BUILD_DIR:-$root/build}
venv=${EQNN_VENV:-$root/.venv}

"$root/scripts/install-deps.sh"

# ccache (when installed) hashes paths relative to the repository root, so a fresh clone elsewhere reuses
# the objects an earlier build compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}

generator=()
if [ ! -f "$build_dir/CMakeCache.txt" ] && command -v ninja > /dev/null; then generator=(-G Ninja); fi
cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="${EQNN_BUILD_TYPE:-Release}" \
  -DEQNN_PYTHON="$venv/bin/python" "$@"
cmake --build "$build_dir" -j "${EQNN_JOBS:-2}"
# The Python package `eqnn` into the venv (pyproject.toml; objects in build-python/, which ccache shares
# with build/ through the relative paths above).
# EQNN_PYTHON_PACKAGE=0 skips it.
if [ "${EQNN_PYTHON_PACKAGE:-1}" != 0 ]; then
  CMAKE_BUILD_PARALLEL_LEVEL=${EQNN_JOBS:-2} "$venv/bin/python" -m pip install --disable-pip-version-check -q \
    --no-build-isolation --no-deps "$root"
fi
