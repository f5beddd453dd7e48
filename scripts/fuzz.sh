#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz) for $EQNN_FUZZ_SECONDS seconds each (default 60), two at a time,
# from its seed corpus (tests/fuzz/CMakeLists.txt lists the folders) plus the inputs earlier runs added
# ($build/fuzz/corpus/<name>, kept between runs). A crash, sanitizer report, leak, uncaught exception or an
# input slower than 1 s (-timeout=1) fails the script; the input is left in $build/fuzz/artifacts/<name>/
# for tests/fuzz/regressions/<name>/ (ctest replays that folder in every build).
# Needs a tree configured with EQNN_BUILD_FUZZERS=ON (scripts/sanitize.sh asan builds build-sanitize/).
# The mutations follow $EQNN_FUZZ_SEED (default 1): with the same seed and seeds folders, a CI run explores
# the same inputs as a local one (a faster machine goes further along the same path), so a finding is
# reproducible and CI does not fail by chance. EQNN_FUZZ_SEED=0 draws a random seed (exploration; the log
# says which one).
# Usage: scripts/fuzz.sh [target ...]   (default: all four)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${EQNN_FUZZ_BUILD_DIR:-$root/build-sanitize}
seconds=${EQNN_FUZZ_SECONDS:-60}
seed=${EQNN_FUZZ_SEED:-1}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(model_yaml rep_string group_spec tensor_file)
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/bin/llvm-symbolizer-14}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0}
export OMP_NUM_THREADS=1

run_one() {  # run_one <target>: its log is $build/fuzz/<target>.log
  local name=$1 binary=$build/bin/fuzz_$1
  local corpus=$build/fuzz/corpus/$name artifacts=$build/fuzz/artifacts/$name
  # Findings are this run's (an earlier run's are in tests/fuzz/regressions/ once fixed).
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  local seeds=()
  mapfile -t seeds < "$build/fuzz/$name.seeds"
  # -timeout=1: an input that takes longer is a finding (a hang); -rss_limit_mb: one that needs more memory.
  # TMPDIR: the tensor_file target writes its scratch file there.
  TMPDIR=$build/fuzz "$binary" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=4096 -seed="$seed" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" "${seeds[@]}" > "$build/fuzz/$name.log" 2>&1
}

for name in "${targets[@]}"; do
  [ -x "$build/bin/fuzz_$name" ] || { echo "fuzz: $build/bin/fuzz_$name is not built" >&2; exit 2; }
done
status=0
pids=()
for i in "${!targets[@]}"; do
  run_one "${targets[$i]}" & pids[$i]=$!
  # Two at a time (two cores).
  if [ $((i % 2)) -eq 1 ] || [ "$i" -eq $((${#targets[@]} - 1)) ]; then
    for j in "${!pids[@]}"; do
      if ! wait "${pids[$j]}"; then status=1; echo "fuzz: ${targets[$j]} FAILED" >&2; fi
    done
    pids=()
  fi
done
# The summary: executions, coverage, corpus size, findings.
for name in "${targets[@]}"; do
  log=$build/fuzz/$name.log
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  units=$(find "$build/fuzz/corpus/$name" -type f | wc -l)
  findings=$(find "$build/fuzz/artifacts/$name" -type f | wc -l)
  used=$(grep -o 'Seed: [0-9]*' "$log" | head -1 | grep -o '[0-9]*' || echo "?")
  echo "fuzz: $name: seed ${used}, ${runs} executions in ${seconds} s, coverage ${cov} edges / ${ft} features, corpus ${units} inputs, ${findings} findings"
  if [ "$findings" -ne 0 ] || grep -q 'ERROR: libFuzzer\|==ERROR\|runtime error' "$log"; then
    status=1
    grep -A40 -m1 'ERROR: libFuzzer\|==ERROR\|runtime error\|deadly signal\|uncaught exception' "$log" >&2 || true
    echo "fuzz: $name found a problem; the input is in $build/fuzz/artifacts/$name/, the log in $log" >&2
  fi
done
exit "$status"
