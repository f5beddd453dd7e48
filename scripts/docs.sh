#!/usr/bin/env bash
# Builds the documentation site (docs/) into build/docs/html and runs its doctests, as CI does (.ci/run).
#   1. installs what is missing, and only that: Debian's doxygen (with the other Debian packages, by
#      scripts/install-deps.sh), and docs/requirements.txt (Sphinx, MyST, Breathe, pinned) into the project
#      venv ($EQNN_VENV, default .venv/);
#   2. sphinx-build -W --keep-going: HTML, every warning an error (the C++ reference from the public headers,
#      the Python API from the installed package's docstrings, the CLI reference from build/bin/eqnn --help);
#   3. sphinx-build -b doctest: every Python example of the site, the tutorials' commands and the README's tour.
# Needs a finished build first (scripts/build.sh: build/bin/eqnn and the package eqnn installed into the venv).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${EQNN_VENV:-$root/.venv}
build_dir=${EQNN_BUILD_DIR:-$root/build}
out=$build_dir/docs
requirements=$root/docs/requirements.txt
export EQNN_BUILD_DIR=$build_dir EQNN_DOCS_DIR=$out

start=$(date +%s)
# Debian packages (doxygen among them), the venv and docs/requirements.txt's pins in it; idempotent.
"$root/scripts/install-deps.sh" "$requirements"
[ -x "$venv/bin/python" ] || { echo "docs: no venv at $venv; run scripts/build.sh first" >&2; exit 1; }
[ -x "$build_dir/bin/eqnn" ] || { echo "docs: $build_dir/bin/eqnn is missing; run scripts/build.sh first" >&2; exit 1; }
"$venv/bin/python" -c 'import eqnn' 2> /dev/null \
  || { echo "docs: the package eqnn is not installed in $venv; run scripts/build.sh first" >&2; exit 1; }
echo "docs: dependencies ready in $(($(date +%s) - start)) s"

# Sphinx and the doctests run in the venv; build/bin/eqnn is what the CLI pages document and run.
export PATH=$venv/bin:$PATH OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
start=$(date +%s)
# -E: read every source again, so every warning (and the docstring report) comes back on a rebuild too.
"$venv/bin/sphinx-build" -E -W --keep-going -q -b html -d "$out/doctrees" "$root/docs" "$out/html"
echo "docs: HTML built in $(($(date +%s) - start)) s"
start=$(date +%s)
"$venv/bin/sphinx-build" -W --keep-going -q -b doctest -d "$out/doctrees" "$root/docs" "$out/doctest"
tests=$(sed -n 's/^ *\([0-9]*\) tests$/\1/p' "$out/doctest/output.txt" | tail -n 1)
echo "docs: ${tests:-?} doctest examples passed in $(($(date +%s) - start)) s"
if [ -s "$out/docstring-gaps-html.txt" ]; then
  echo "docs: $(wc -l < "$out/docstring-gaps-html.txt") public objects lack a docstring, or have one that is not valid reST (shown verbatim):"
  sed 's/^/docs:   /' "$out/docstring-gaps-html.txt"
fi
echo "docs: open $out/html/index.html (xdg-open $out/html/index.html, or python3 -m http.server -d $out/html)"
