#!/usr/bin/env bash
# eqnn.interop against the reference itself: builds (or reuses) the reference venv — symm-learning 0.8.1,
# escnn 1.0.11 and e3nn 0.5.6, seeing the project venv's torch and eqnn (scripts/reference_venv.py) — and runs
# tests/python/reference there. Fails, with the reason, when the reference cannot be installed: it never
# skips. Needs the package installed in the project venv (scripts/build.sh or scripts/test.sh first).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${EQNN_VENV:-$root/.venv}
start=$(date +%s)
if ! "$venv/bin/python" -c "import eqnn" 2>/dev/null; then
  echo "reference: FAILED: eqnn is not installed in $venv (run ./scripts/build.sh first)" >&2
  exit 1
fi
if ! python=$("$venv/bin/python" "$root/scripts/reference_venv.py" "${EQNN_REFERENCE_VENV:-$root/build-python/reference-venv}"); then
  echo "reference: FAILED: the reference (symm-learning==0.8.1, escnn==1.0.11, e3nn==0.5.6) could not be installed" >&2
  exit 1
fi
echo "reference: venv ready in $(($(date +%s) - start)) s"
start=$(date +%s)
status=0
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$python" -m pytest -q -p no:cacheprovider "$root/tests/python/reference" \
  || status=$?
echo "reference: pytest finished in $(($(date +%s) - start)) s (exit status $status)"
exit "$status"
