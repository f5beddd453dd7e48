#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install dependencies, build, run ctest.
# Exits non-zero when the build or any test fails (ctest, then pytest tests/python). Extra arguments go
# to ctest (e.g. -R registry).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EQNN_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
venv=${EQNN_VENV:-$root/.venv}
cd "$build_dir"
status=0
# One intra-op thread per test process: ctest runs $EQNN_JOBS of them at once, and LibTorch's OpenMP pool
# would otherwise start a thread per core in each (oversubscription, and float32 sums that depend on it).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
start=$(date +%s)
ctest --output-on-failure -j "${EQNN_JOBS:-2}" "$@" || status=$?
echo "test: ctest finished in $(($(date +%s) - start)) s (exit status $status)"
# The Python package's tests (installed by build.sh). pytest's exit status 5 means it collected nothing:
# that is a failure here too (the suite went missing).
if [ "${EQNN_PYTHON_PACKAGE:-1}" != 0 ]; then
  start=$(date +%s)
  pytest_status=0
  "$venv/bin/python" -m pytest -q "$root/tests/python" || pytest_status=$?
  echo "test: pytest finished in $(($(date +%s) - start)) s (exit status $pytest_status)"
  [ "$pytest_status" = 0 ] || status=$pytest_status
fi
exit "$status"
