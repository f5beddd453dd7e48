#!/usr/bin/env bash
# Lint, as CI runs it (.ci/run); fails on the first finding and says how to fix it:
#   clang-format-14 with the repository's .clang-format on every C++ and CUDA file git tracks;
#   ruff (pinned in scripts/requirements.txt, configured in pyproject.toml) on every Python file.
# scripts/lint.sh --fix rewrites the files instead (review the diff before committing).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${EQNN_VENV:-$root/.venv}
cd "$root"
fix=0
[ "${1:-}" = --fix ] && fix=1

mapfile -t cxx < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cu' '*.cuh')
mapfile -t python < <(git ls-files '*.py' '*.pyi')
status=0
if [ "$fix" = 1 ]; then
  clang-format-14 -i "${cxx[@]}"
  "$venv/bin/ruff" check --force-exclude --fix "${python[@]}" || status=$?
  exit "$status"
fi
if ! clang-format-14 --dry-run -Werror "${cxx[@]}" 2> /tmp/eqnn-lint.$$; then
  grep -E '^[^ ].*: error:' /tmp/eqnn-lint.$$ | cut -d: -f1 | sort | uniq -c | sed 's/^/lint: clang-format: /' >&2
  echo "lint: clang-format finds the files above unformatted; run scripts/lint.sh --fix" >&2
  status=1
fi
rm -f /tmp/eqnn-lint.$$
"$venv/bin/ruff" check --force-exclude "${python[@]}" || { echo "lint: ruff found the problems above (scripts/lint.sh --fix fixes some)" >&2; status=1; }
[ "$status" = 0 ] && echo "lint: ${#cxx[@]} C++ files formatted (clang-format-14), ${#python[@]} Python files clean (ruff)"
exit "$status"
