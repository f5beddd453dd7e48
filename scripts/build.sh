#!/usr/bin/env bash
# Installs missing dependencies, configures into build/ (or $EQNN_BUILD_DIR) and builds with -j2.
# Used by demo.sh and test.sh; extra arguments go to the configure step (e.g. -DCMAKE_BUILD_TYPE=Debug).
# CMake finds LibTorch through the project venv's Python ($EQNN_VENV, default .venv/).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EQNN_BUILD_DIR:-$root/build}
venv=${EQNN_VENV:-$root/.venv}

start=$(date +%s)
"$root/scripts/install-deps.sh"
echo "build: dependencies ready in $(($(date +%s) - start)) s"

# ccache (when installed) hashes paths relative to the repository root, so a fresh clone elsewhere reuses
# the objects an earlier build compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}

generator=()
if [ ! -f "$build_dir/CMakeCache.txt" ] && command -v ninja > /dev/null; then generator=(-G Ninja); fi
package=${EQNN_PYTHON_PACKAGE:-1}  # EQNN_PYTHON_PACKAGE=0 skips the Python package
python_ext=OFF
[ "$package" = 0 ] || python_ext=ON
build_type=${EQNN_BUILD_TYPE:-Release}
cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" \
  -DEQNN_PYTHON="$venv/bin/python" -DPython_EXECUTABLE="$venv/bin/python" -DEQNN_BUILD_PYTHON="$python_ext" "$@"
start=$(date +%s)
cmake --build "$build_dir" -j "${EQNN_JOBS:-2}"
echo "build: built $build_dir in $(($(date +%s) - start)) s"
# The Python package `eqnn` into the venv (pyproject.toml), from this same tree: the extension was built
# above with everything else, so scikit-build-core only re-configures (keeping this tree's settings) and
# installs; nothing is compiled twice. (A plain `pip install .` builds in build-python/ instead.)
if [ "$package" != 0 ]; then
  start=$(date +%s)
  tests=$(sed -n 's/^EQNN_BUILD_TESTS:BOOL=//p' "$build_dir/CMakeCache.txt")
  CMAKE_BUILD_PARALLEL_LEVEL=${EQNN_JOBS:-2} "$venv/bin/python" -m pip install --disable-pip-version-check -q \
    --no-build-isolation --no-deps --config-settings=build-dir="$build_dir" --config-settings=cmake.build-type="$build_type" \
    --config-settings=cmake.define.EQNN_BUILD_TESTS="${tests:-ON}" "$root"
  echo "build: Python package installed into $venv in $(($(date +%s) - start)) s"
fi
