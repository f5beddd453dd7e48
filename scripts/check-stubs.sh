#!/usr/bin/env bash
# The type stub python/eqnn/_C.pyi is generated from the extension itself by pybind11-stubgen
# (pinned in scripts/requirements.txt), so it declares exactly what the binding defines. This regenerates it
# from the eqnn package installed in the venv (scripts/build.sh installs it) and diffs it with the committed
# stub: exit status 1 and the diff when they differ. `--update` writes the regenerated stub instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${EQNN_VENV:-$root/.venv}
stub=$root/python/eqnn/_C.pyi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Run from $tmp so that the installed package is imported, not the sources (which have no extension).
(cd "$tmp" && "$venv/bin/python" -m pybind11_stubgen --exit-code -o "$tmp/out" eqnn._C > "$tmp/log" 2>&1) || {
  cat "$tmp/log" >&2
  echo "check-stubs: pybind11-stubgen failed on eqnn._C (is the package built and installed? scripts/build.sh)" >&2
  exit 2
}
{
  echo "# The C++ extension eqnn._C (see eqnn/__init__.py for the documented API). Generated from the binding by"
  echo "# pybind11-stubgen: do not edit; run scripts/check-stubs.sh --update after changing python/*.cpp."
  cat "$tmp/out/eqnn/_C.pyi"
} > "$tmp/_C.pyi"

if [ "${1:-}" = "--update" ]; then
  cp "$tmp/_C.pyi" "$stub"
  echo "check-stubs: wrote $stub"
  exit 0
fi
if ! diff -u --label "committed $stub" --label "generated from eqnn._C" "$stub" "$tmp/_C.pyi"; then
  echo "check-stubs: $stub differs from the binding; run scripts/check-stubs.sh --update and commit it" >&2
  exit 1
fi
echo "check-stubs: $stub matches the binding"
