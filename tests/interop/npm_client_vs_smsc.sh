#!/usr/bin/env bash
# The npm `smpp` client binds to our SMSC (smsgate-smsc, built on smpp/net),
# submits GSM and UCS-2 messages and receives a receipt for each, with the id
# its submit_sm_resp carried. The simulator's record shows the decoded texts.
source "$(dirname "$0")/../support/harness.sh"
BIN=$1
start_bg smsc "$BIN/smsgate-smsc" --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --accounts npmtest:secret --id-format zero-padded --record "$WORK/record.jsonl"
wait_for_file "$WORK/port"
out=$(node "$(dirname "$0")/npm_client.js" "$(cat "$WORK/port")" npmtest secret 30) || fail "npm client: $out"
echo "$out"
# A wrong password is refused with ESME_RINVPASWD (14).
bad=$(node "$(dirname "$0")/npm_client.js" "$(cat "$WORK/port")" npmtest wrong 1) && fail "wrong password accepted: $bad"
echo "$bad" | grep -q 'bind failed with status 14' || fail "wrong password: $bad"
kill -TERM "$PID_smsc"; wait "$PID_smsc" || fail "smsc did not exit 0"
[ "$(wc -l < "$WORK/record.jsonl")" -eq 30 ] || fail "record has $(wc -l < "$WORK/record.jsonl") lines, want 30"
grep -q '你好，这是一条测试短信' "$WORK/record.jsonl" || fail "UCS-2 text not decoded in the record"
grep -q 'Price: 10€ \[promo\] {x}' "$WORK/record.jsonl" || fail "GSM extension text not decoded in the record"
echo "PASS"
