#!/usr/bin/env bash
# Checks that libeqnn's floors stack one way (DESIGN.md section 2; framework/CMakeLists.txt):
#   util < group_theory < nn < registry < model
# A file under framework/eqnn/<floor>/ may include eqnn headers of its own floor and of floors below it,
# never above; and only libeqnn (and its tests) may include a header from an internal/ folder: no layer,
# group, constraint plugin, example, CLI or Python binding does.
# Prints every offending include line (file:line: ...) and exits 1 if there is one.
# Usage: check-floors.sh [REPOSITORY_ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
floors=(util group_theory nn registry model)
rank() {
  local i
  for i in "${!floors[@]}"; do [ "${floors[$i]}" = "$1" ] && { echo "$i"; return; }; done
  echo -1
}
bad=0
checked=0
while IFS= read -r -d '' file; do
  rel=${file#"$root"/}
  floor=$(cut -d/ -f3 <<< "$rel")
  own=$(rank "$floor")
  if [ "$own" -lt 0 ]; then
    case "$rel" in framework/eqnn/eqnn.hpp) continue ;; esac
    echo "$rel: not in a floor folder (${floors[*]})"; bad=1; continue
  fi
  checked=$((checked + 1))
  while IFS=: read -r line text; do
    target=$(sed -E 's/.*[<"]eqnn\/([^/>"]+)\/.*/\1/' <<< "$text")
    other=$(rank "$target")
    if [ "$other" -gt "$own" ]; then
      echo "$rel:$line: the $floor floor includes the $target floor above it: $text"; bad=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]eqnn/[a-z_]+/' "$file" || true)
done < <(find "$root/framework/eqnn" -type f \( -name '*.hpp' -o -name '*.cpp' \) -print0)
# internal/ headers: only libeqnn's own files, and the tests, include them
while IFS=: read -r file line text; do
  echo "${file#"$root"/}:$line: includes a libeqnn-internal header: $text"; bad=1
done < <(grep -rnE '#[[:space:]]*include[[:space:]]*[<"]eqnn/.*/internal/' "$root/layers" "$root/groups" \
           "$root/plugins" "$root/examples" "$root/framework/cli" "$root/python" 2>/dev/null || true)
[ "$checked" -gt 0 ] || { echo "check-floors: no files found under $root/framework/eqnn"; exit 1; }
if [ "$bad" = 0 ]; then echo "check-floors: $checked files, every include goes down the floors"; fi
exit "$bad"
