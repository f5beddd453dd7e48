#!/usr/bin/env bash
# CI check that eqnn links only the LibTorch it was configured with, even where another LibTorch is
# installed system-wide (Debian's libtorch-dev puts LibTorch 1.13's libc10.so and libtorch.so into
# /usr/lib/x86_64-linux-gnu; cmake/EqnnTorch.cmake says how the build keeps them out).
#   scripts/check-torch-isolation.sh install       installs Debian's libtorch-dev (the stray LibTorch)
#   scripts/check-torch-isolation.sh check [DIR]   checks the build tree DIR (default build/):
#     1. the stray LibTorch is really there (otherwise this check proves nothing and fails);
#     2. every binary of DIR (programs, libeqnn, layer libraries, plugins, the Python extension): each
#        library it needs is found (ldd), and every LibTorch or CUDA library it loads (libtorch*, libc10*,
#        libcudart*, ...) lies inside the venv holding the torch wheel, never in /usr or /usr/local/cuda;
#     3. CMakeCache.txt: every *_LIBRARY entry naming a LibTorch library, Torch_DIR and Caffe2_DIR lie inside
#        the wheel (the installed eqnnConfig.cmake runs cmake/EqnnTorch.cmake's check for out-of-tree plugins:
#        ctest's install.out_of_tree_plugin);
#     4. a configure handed the stray library (-Dc10_LIBRARY=/usr/lib/.../libc10.so) stops and names it.
# .ci/run installs the stray LibTorch before building, so the whole test suite runs with it present.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${EQNN_VENV:-$root/.venv}
stray_dir=${EQNN_STRAY_LIBTORCH_DIR:-/usr/lib/x86_64-linux-gnu}  # where libtorch-dev puts it
torch_own='^lib(torch|c10|caffe2|kineto|shm)'
cuda_own='^lib(cuda|cudart|cublas|cublasLt|cudnn|cufft|cufile|curand|cusolver|cusparse|cusparseLt|nccl|nvrtc|nvJitLink|nvToolsExt|nvshmem|cupti)[._-]'

fail() {
  echo "check-torch-isolation: FAIL: $*" >&2
  exit 1
}

case ${1:-} in
  install)
    if dpkg-query -W -f='${Status}' libtorch-dev 2> /dev/null | grep -q "install ok installed"; then
      echo "check-torch-isolation: Debian's libtorch-dev is already installed"
    else
      echo "check-torch-isolation: installing Debian's libtorch-dev (LibTorch 1.13 in $stray_dir)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends libtorch-dev > /dev/null
    fi
    ;;
  check)
    build_dir=${2:-$root/build}
    [ -f "$build_dir/CMakeCache.txt" ] || fail "no build tree at $build_dir"
    # 1. The stray LibTorch is present.
    for lib in libc10.so libtorch.so; do
      [ -e "$stray_dir/$lib" ] || fail "$stray_dir/$lib is missing: install Debian's libtorch-dev first ($0 install)"
    done
    torch_dir=$(realpath "$("$venv/bin/python" -I -c 'import os, torch; print(os.path.dirname(torch.__file__))')")
    site=$(dirname "$torch_dir")
    echo "check-torch-isolation: stray LibTorch in $stray_dir; the wheel's LibTorch in $torch_dir"

    # 2. Every binary of the build tree.
    mapfile -t binaries < <(find "$build_dir/bin" "$build_dir/lib" "$build_dir/python" -type f \
      \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) 2> /dev/null | sort)
    checked=0
    for binary in "${binaries[@]}"; do
      head -c 4 "$binary" | grep -q 'ELF' || continue
      listing=$(ldd "$binary" 2>&1) || fail "ldd $binary failed: $listing"
      while read -r name _ path _; do
        [ -n "${path:-}" ] && [ -e "$path" ] || continue
        if [[ $name =~ $torch_own || $name =~ $cuda_own ]]; then
          real=$(realpath "$path")
          [[ $real == "$site"/* ]] || fail "$binary loads $name from $real, outside the venv's wheels ($site)"
        fi
      done < <(grep '=>' <<< "$listing")
      if grep -q 'not found' <<< "$listing"; then
        fail "$binary needs a library that is not found:"$'\n'"$(grep 'not found' <<< "$listing")"
      fi
      checked=$((checked + 1))
    done
    [ "$checked" -gt 10 ] || fail "only $checked binaries found under $build_dir: is the build complete?"
    echo "check-torch-isolation: $checked binaries load LibTorch and CUDA only from $site"

    # 3. The cache.
    while IFS='=' read -r key value; do
      name=$(basename "$value")
      if [[ $name =~ $torch_own ]] && [[ $(realpath -m "$value") != "$torch_dir"/* ]]; then
        fail "CMakeCache.txt: $key=$value lies outside $torch_dir"
      fi
    done < <(grep -E '^[A-Za-z0-9_]+_LIBRARY:FILEPATH=/' "$build_dir/CMakeCache.txt" | sed 's/:FILEPATH//')
    for key in Torch_DIR Caffe2_DIR; do
      value=$(sed -n "s/^$key:[A-Z]*=//p" "$build_dir/CMakeCache.txt")
      [[ $(realpath -m "$value") == "$torch_dir"/* ]] || fail "CMakeCache.txt: $key=$value lies outside $torch_dir"
    done
    echo "check-torch-isolation: CMakeCache.txt names LibTorch libraries and configs only inside $torch_dir"

    # 4. A configure handed the stray library must refuse it, naming it.
    probe=$(mktemp -d)
    trap 'rm -rf "$probe"' EXIT
    if cmake -S "$root" -B "$probe" -DEQNN_PYTHON="$venv/bin/python" -DEQNN_BUILD_TESTS=OFF \
      -DEQNN_BUILD_SHIPPED_PLUGINS=OFF -Dc10_LIBRARY="$stray_dir/libc10.so" > "$probe/log" 2>&1; then
      fail "configuring with -Dc10_LIBRARY=$stray_dir/libc10.so succeeded; it must stop"
    fi
    # (CMake wraps its messages: compare with the lines joined)
    tr -s ' \n' ' ' < "$probe/log" | grep -q "LibTorch library '$stray_dir/libc10.so' (from the cache variable c10_LIBRARY) lies outside" \
      || fail "configuring with the stray libc10.so failed without naming it:"$'\n'"$(tail -20 "$probe/log")"
    echo "check-torch-isolation: a configure handed $stray_dir/libc10.so stops and names it"
    echo "check-torch-isolation: passed"
    ;;
  *)
    echo "usage: $0 install | check [BUILD_DIR]" >&2
    exit 2
    ;;
esac
