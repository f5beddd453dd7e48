#!/usr/bin/env bash
# expect_run.sh [--json] STATUS REGEX COMMAND [ARGS...]
# A ctest entry for a program run as users run it: runs COMMAND, prints what it printed, and passes only
# when it exits with exactly STATUS (a crash, a signal or any other status fails) and its output (stdout
# and stderr together, as one text: `.` matches a newline too) matches the extended regular expression
# REGEX. With --json, stdout must also be one valid JSON document. (ctest's PASS_REGULAR_EXPRESSION ignores the exit status and WILL_FAIL passes
# a crash: this checks both.)
set -uo pipefail
json=0
if [ "${1:-}" = --json ]; then
  json=1
  shift
fi
if [ $# -lt 3 ]; then
  echo "usage: expect_run.sh [--json] STATUS REGEX COMMAND [ARGS...]" >&2
  exit 2
fi
expected=$1
regex=$2
shift 2
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
"$@" > "$out" 2> "$err"
status=$?
cat "$out"
cat "$err" >&2
failed=0
if [ "$status" -ne "$expected" ]; then
  if [ "$status" -gt 128 ]; then
    echo "expect_run: FAIL: $1 was killed by signal $((status - 128)) (expected exit status $expected)" >&2
  else
    echo "expect_run: FAIL: $1 exited with status $status, expected $expected" >&2
  fi
  failed=1
fi
if ! cat "$out" "$err" | grep -Ezq -- "$regex"; then  # -z: the pattern may span lines
  echo "expect_run: FAIL: the output does not match /$regex/" >&2
  failed=1
fi
if [ "$json" = 1 ] && ! python3 - "$out" << 'PY'
import json, sys
try:
    json.load(open(sys.argv[1]))
except ValueError as e:
    sys.exit(f"expect_run: FAIL: stdout is not valid JSON: {e}")
PY
then
  failed=1
fi
[ "$failed" = 0 ] && echo "expect_run: PASS (status $status, output matches)"
exit "$failed"
