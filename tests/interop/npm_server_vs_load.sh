#!/usr/bin/env bash
# Our client end (smsgate-load, built on smpp/net's Client) binds to the npm
# `smpp` server, submits, and gets a receipt for every message.
source "$(dirname "$0")/../support/harness.sh"
BIN=$1
start_bg npmsmsc node "$(dirname "$0")/npm_server.js" "$WORK/port" "$WORK/stats.json" loadtest secret
wait_for_file "$WORK/port"
"$BIN/smsgate-load" --target "127.0.0.1:$(cat "$WORK/port")" --system-id loadtest --password secret \
  --count 500 --window 32 --dlr-timeout 20 --json "$WORK/load.json" --quiet > "$WORK/load.log" 2>&1 \
  || fail "smsgate-load against the npm server: $(cat "$WORK/load.log")"
python3 - "$WORK/load.json" <<'PY' || fail "load summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["submitted"] == 500 and s["acked"] == 500, s
assert s["dlrs"]["received"] == 500 and s["dlrs_missing"] == 0, s
PY
kill -TERM "$PID_npmsmsc"; wait_for_file "$WORK/stats.json" 5
python3 -c "import json,sys; s=json.load(open('$WORK/stats.json')); assert s['submits']==500 and s['receipts_acked']==500, s" \
  || fail "npm server counters: $(cat "$WORK/stats.json")"
echo PASS
