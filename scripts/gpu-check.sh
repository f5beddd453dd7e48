#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, PyTorch (CUDA), CMake and a C++ compiler but no network
# and no Debian -dev packages. Beforehand, on a networked Debian 12 machine: scripts/vendor-deps.sh (puts
# the needed .deb files into third_party/debs/). Then, on the GPU machine, from the repository root:
#   scripts/gpu-check.sh            # prints one JSON summary on stdout; logs go to build-gpu/logs/
# It unpacks the .deb files into a private prefix (never into /), builds eqnn against that PyTorch's
# LibTorch, runs the whole test suite (the CUDA tests among them, which must run, not skip), and
# `eqnn bench attention/encoder/conv/linear --device cuda`. Exit status 0 only when everything passed.
# Knobs: EQNN_PYTHON (default: python3 on PATH), EQNN_GPU_BUILD_DIR (build-gpu), EQNN_DEPS_PREFIX
# (/tmp/eqnn-deps), EQNN_JOBS (all cores), EQNN_GPU_CHECK_DEVICE (cuda; cpu only to try the script here),
# EQNN_GPU_CMAKE_ARGS (extra configure arguments, split on spaces, e.g. -DEQNN_BUILD_BENCHMARKS=OFF).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${EQNN_PYTHON:-$(command -v python3)}
build=${EQNN_GPU_BUILD_DIR:-$root/build-gpu}
prefix=${EQNN_DEPS_PREFIX:-/tmp/eqnn-deps}
jobs=${EQNN_JOBS:-$(nproc)}
device=${EQNN_GPU_CHECK_DEVICE:-cuda}
read -r -a extra_cmake_args <<< "${EQNN_GPU_CMAKE_ARGS:-}"
logs=$build/logs
mkdir -p "$logs"
status_file=$logs/steps.tsv
: > "$status_file"

step() {  # step NAME COMMAND...: runs COMMAND with its output in logs/NAME.log, records status and seconds
  local name=$1
  shift
  local start=$SECONDS
  "$@" > "$logs/$name.log" 2>&1
  local rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" >> "$status_file"
  echo "gpu-check: $name: exit $rc in $((SECONDS - start)) s (log: $logs/$name.log)" >&2
  return $rc
}

unpack() {
  local debs=("$root"/third_party/debs/*.deb)
  [ -e "${debs[0]}" ] || { echo "no .deb files in third_party/debs: run scripts/vendor-deps.sh first"; return 1; }
  mkdir -p "$prefix"
  for deb in "${debs[@]}"; do
    if command -v dpkg-deb > /dev/null; then
      dpkg-deb -x "$deb" "$prefix" || return 1
    else
      (cd "$prefix" && ar p "$deb" "$(ar t "$deb" | grep '^data\.tar')" | tar -x --auto-compress -f - 2> /dev/null \
        || ar p "$deb" "$(ar t "$deb" | grep '^data\.tar')" | tar -xJf -) || return 1
    fi
  done
  echo "unpacked ${#debs[@]} packages into $prefix"
}

configure() {
  local generator=()
  command -v ninja > /dev/null && generator=(-G Ninja)
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DEQNN_PYTHON="$python" \
    -DCMAKE_PREFIX_PATH="$prefix/usr" "${extra_cmake_args[@]}"
}

bench() {  # bench NAME ARGS...: one eqnn bench run, its JSON kept in logs/NAME.json
  local name=$1
  shift
  "$build/bin/eqnn" bench "$@" --device "$device" --json > "$logs/$name.json"
}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$logs/gpu.txt" 2>&1 || true
  "$python" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())" \
    > "$logs/torch.txt" 2>&1 || true
  step unpack unpack &&
    step configure configure &&
    step build cmake --build "$build" -j "$jobs" &&
    { step ctest_all ctest --test-dir "$build" -j "$jobs" --timeout 600 --output-junit "$logs/ctest_all.xml";
      step ctest_cuda ctest --test-dir "$build" -R '^Cuda\.' --output-on-failure --output-junit "$logs/ctest_cuda.xml";
      step version "$build/bin/eqnn" --version;
      step bench_attention_ico bench bench_attention_ico attention --group Ico --rep "8x regular" --heads 4 --batch 32 --seq 256;
      step bench_attention_c8 bench bench_attention_c8 attention --group C8 --rep "16x regular" --heads 4 --batch 32 --seq 256;
      step bench_encoder_ico bench bench_encoder_ico encoder --group Ico --rep "8x regular" --heads 4 --batch 32 --seq 256;
      step bench_conv_c8 bench bench_conv_c8 conv --group C8 --rep "8x regular";
      step bench_linear bench bench_linear linear; }
} 2>&1 | cat >&2

"$python" - "$logs" << 'PY'
import json, os, sys, xml.etree.ElementTree as ET
logs = sys.argv[1]
def read(name):
    path = os.path.join(logs, name)
    return open(path).read().strip() if os.path.exists(path) else None
def junit(name):
    path = os.path.join(logs, name)
    if not os.path.exists(path):
        return None
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failed = []
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("failure") is not None or case.get("status") == "fail":
            counts["failed"] += 1
            failed.append(case.get("name"))
        elif case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    counts["failed_tests"] = failed
    return counts
steps = {}
for line in (read("steps.tsv") or "").splitlines():
    name, rc, seconds = line.split("\t")
    steps[name] = {"exit": int(rc), "seconds": int(seconds)}
bench = {}
for name in ("bench_attention_ico", "bench_attention_c8", "bench_encoder_ico", "bench_conv_c8", "bench_linear"):
    text = read(name + ".json")
    try:
        bench[name] = json.loads(text) if text else None
    except json.JSONDecodeError:
        bench[name] = {"unparsed": text}
summary = {
    "gpu": read("gpu.txt"),
    "torch": read("torch.txt"),
    "eqnn_version": read("version.log"),
    "steps": steps,
    "tests": junit("ctest_all.xml"),
    "cuda_tests": junit("ctest_cuda.xml"),
    "bench": bench,
}
summary["ok"] = bool(steps) and all(s["exit"] == 0 for s in steps.values()) and \
    summary["cuda_tests"] is not None and summary["cuda_tests"]["passed"] > 0 and \
    summary["cuda_tests"]["skipped"] == 0
print(json.dumps(summary, indent=2))
sys.exit(0 if summary["ok"] else 1)
PY
