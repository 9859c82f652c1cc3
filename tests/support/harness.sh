# Shared helpers for the process-level tests (bash). Source it, then:
#   start_bg NAME CMD...     start a process in the background, logged to $WORK/NAME.log
#   wait_for_file FILE [S]   wait until FILE exists and is non-empty (S seconds, default 20)
#   fail MSG                 print the logs and exit 1
# Everything started is killed on exit; $WORK is removed unless the test failed.
set -euo pipefail
WORK=$(mktemp -d /tmp/smsgate-test.XXXXXX)
PIDS=()
TEST_FAILED=0

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  if [ "$rc" -eq 0 ] && [ "$TEST_FAILED" -eq 0 ]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}
trap cleanup EXIT

start_bg() {
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_${name//-/_}=$!"
}

wait_for_file() {
  local file=$1 secs=${2:-20} i=0
  while [ ! -s "$file" ]; do
    sleep 0.1; i=$((i + 1))
    [ "$i" -lt $((secs * 10)) ] || fail "timed out waiting for $file"
  done
}

fail() {
  TEST_FAILED=1
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done >&2
  exit 1
}
