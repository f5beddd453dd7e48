#!/usr/bin/env bash
# Installs eqnn from BUILD_DIR into a temporary prefix, builds examples/plugin against it with
# find_package(eqnn), and checks that the installed `eqnn plugins --json` lists the example plugin and,
# when SHIPPED is 1 (the tree built the shipped plugins), every shipped plugin from the installed prefix.
# Before that it checks the installed SDK is closed: every eqnn header an installed header includes is
# installed too (libeqnn's internal/ headers are not, so no public header may include one).
# Usage: out_of_tree_plugin.sh BUILD_DIR EXAMPLE_SOURCE_DIR WORK_DIR TORCH_DIR SHIPPED
set -euo pipefail
build_dir=$1
example_dir=$2
work_dir=$3
torch_dir=$4
shipped=$5

rm -rf "$work_dir"
mkdir -p "$work_dir"
chmod 0755 "$work_dir"
prefix=$work_dir/prefix
example_build=$work_dir/example-build

echo "== cmake --install $build_dir --prefix $prefix"
cmake --install "$build_dir" --prefix "$prefix" > "$work_dir/install.log"

echo "== every eqnn header an installed header includes is installed"
headers=$(find "$prefix/include/eqnn" -name '*.hpp' | wc -l)
[ "$headers" -gt 0 ] || { echo "FAIL: no headers under $prefix/include/eqnn"; exit 1; }
if find "$prefix/include/eqnn" -path '*/internal/*' | grep .; then
  echo "FAIL: internal headers were installed"; exit 1
fi
missing=0
while IFS=: read -r file include; do
  target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<< "$include")
  if [ ! -f "$prefix/include/$target" ]; then
    echo "FAIL: ${file#"$prefix"/} includes $target, which is not installed"
    missing=1
  fi
done < <(grep -rHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]eqnn/' "$prefix/include/eqnn")
# The umbrella eqnn/eqnn.hpp holds every installed header of libeqnn's floors.
for header in "$prefix"/include/eqnn/{util,group_theory,nn,registry,model}/*.hpp; do
  relative=${header#"$prefix"/include/}
  if ! grep -q "^#include \"$relative\"" "$prefix/include/eqnn/eqnn.hpp"; then
    echo "FAIL: the umbrella header eqnn/eqnn.hpp does not include $relative"
    missing=1
  fi
done
[ "$missing" = 0 ] || exit 1
echo "== $headers installed headers, their eqnn includes all installed; eqnn/eqnn.hpp includes every floor's"

generator=()
if command -v ninja > /dev/null; then generator=(-G Ninja); fi
echo "== configure + build $example_dir against $prefix"
cmake -S "$example_dir" -B "$example_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DTorch_DIR="$torch_dir"
cmake --build "$example_build" -j2

for plugin in "$example_build"/scalar_constraint.so "$example_build"/klein_group.so \
  "$example_build"/cylinder_group.so; do
  test -f "$plugin" || { echo "FAIL: $plugin was not built"; exit 1; }
done

echo "== installed eqnn plugins --json with EQNN_PLUGIN_PATH=$example_build"
json=$(EQNN_PLUGIN_PATH="$example_build" "$prefix/bin/eqnn" plugins --json)
echo "$json"
grep -q '"name": "example_scalar_constraint"' <<< "$json" \
  || { echo "FAIL: example plugin not listed"; exit 1; }
grep -q '"name": "ScalarConstraint"' <<< "$json" \
  || { echo "FAIL: ScalarConstraint not registered"; exit 1; }
grep -q '"name": "KleinFourGroup"' <<< "$json" || { echo "FAIL: KleinFourGroup not registered"; exit 1; }

# The example group, checked by character theory rather than by its own code: V4 is abelian of order 4,
# so it has 4 real irreps of dimension 1, and its corners action is free and transitive (the regular
# representation), so dim Hom_G(corners, corners) = sum of d_i^2 = 4.
echo "== the example group V4 through the installed eqnn"
info=$(EQNN_PLUGIN_PATH="$example_build" "$prefix/bin/eqnn" group info V4)
echo "$info"
grep -q '^group V4: order 4, 2 generators, 4 real irreps, 4 conjugacy classes' <<< "$info" \
  || { echo "FAIL: eqnn group info V4 does not report order 4 with 4 irreps"; exit 1; }
hom=$(EQNN_PLUGIN_PATH="$example_build" "$prefix/bin/eqnn" hom --group V4 --in "permutation(corners)" \
  --out "2x trivial + irrep(3)")
echo "$hom"
# corners = irrep(0) + irrep(1) + irrep(2) + irrep(3): Hom(corners, 2 trivial + irrep(3)) has dimension 2 + 1.
grep -q 'dimension 3 ' <<< "$hom" || { echo "FAIL: dim Hom_V4(corners, 2x trivial + irrep(3)) is not 3"; exit 1; }

# The example compact group SO(2) x C2 on space, checked by hand rather than by its code: the maps of R^3 that
# commute with every diag(rot(t), +-1) are diag(a I + b J, c) (J the quarter turn), a space of dimension 3; a
# model on it passes eqnn check on Haar-random elements.
echo "== the example compact group SO2xC2 through the installed eqnn"
info=$(EQNN_PLUGIN_PATH="$example_build" "$prefix/bin/eqnn" group info SO2xC2)
echo "$info"
grep -q '^group SO2xC2: compact, elements are its 3x3 defining matrices; 34 real irreps up to band limit 16' \
  <<< "$info" || { echo "FAIL: eqnn group info SO2xC2 does not report a compact group of 34 irreps"; exit 1; }
hom=$(EQNN_PLUGIN_PATH="$example_build" "$prefix/bin/eqnn" hom --group SO2xC2 --in standard --out standard)
echo "$hom"
grep -q 'dimension 3 ' <<< "$hom" || { echo "FAIL: dim Hom_SO2xC2(standard, standard) is not 3"; exit 1; }
cat > "$work_dir/cylinder.yaml" << 'YAML'
eqnn: 1
group: SO2xC2
reps:
  x: 2x standard + regular(2)
input: x
layers:
  - {type: eLinear, out_rep: x}
  - {type: eNormNonlinearity}
YAML
check=$(EQNN_PLUGIN_PATH="$example_build" "$prefix/bin/eqnn" check "$work_dir/cylinder.yaml" --dtype float64)
echo "$check"
grep -q '^equivariant: every checked layer and the whole model' <<< "$check" \
  || { echo "FAIL: eqnn check of a model on SO2xC2 did not pass"; exit 1; }
if [ "$shipped" = 1 ]; then
  shopt -s nullglob
  count=0
  for built in "$build_dir"/lib/eqnn/plugins/*.so; do
    name=$(basename "$built")
    grep -q "\"file\": \"$prefix/lib[^\"]*/eqnn/plugins/$name\"" <<< "$json" \
      || { echo "FAIL: the shipped plugin $name is not loaded from the installed prefix $prefix"; exit 1; }
    count=$((count + 1))
  done
  [ "$count" -gt 0 ] || { echo "FAIL: the tree built the shipped plugins, but $build_dir/lib/eqnn/plugins has none"; exit 1; }
  echo "== all $count shipped plugins are loaded from $prefix"
fi
echo "PASS"
