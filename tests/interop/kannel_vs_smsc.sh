#!/usr/bin/env bash
# Kannel (Debian's bearerbox and smsbox) binds to our SMSC end as a
# transceiver ESME; a message submitted through Kannel's sendsms interface
# reaches our server, which records it, and Kannel reports the bind online.
source "$(dirname "$0")/../support/harness.sh"
BIN=$1
command -v bearerbox >/dev/null || export PATH=$PATH:/usr/sbin
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_bg smsc "$BIN/smsgate-smsc" --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --accounts kannel:kpass --record "$WORK/record.jsonl"
wait_for_file "$WORK/port"
admin=$(free_port); smsbox=$(free_port); sendsms=$(free_port)
mkdir -p "$WORK/spool"
sed -e "s|@WORK@|$WORK|g" -e "s|@ADMIN_PORT@|$admin|" -e "s|@SMSBOX_PORT@|$smsbox|g" \
    -e "s|@SENDSMS_PORT@|$sendsms|" -e "s|@SMPP_PORT@|$(cat "$WORK/port")|" \
    "$(dirname "$0")/kannel.conf.in" > "$WORK/kannel.conf"
start_bg bearerbox bearerbox "$WORK/kannel.conf"
# smsbox gives up at once if bearerbox is not listening yet.
for i in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$smsbox") 2>/dev/null && break
  sleep 0.1
done
start_bg smsbox smsbox "$WORK/kannel.conf"

# Wait until Kannel's SMPP link to us is online.
for i in $(seq 1 150); do
  status=$(curl -s "http://127.0.0.1:$admin/status.txt?password=kannel-admin" || true)
  echo "$status" | grep -q 'smsgate.*online' && break
  sleep 0.2
done
echo "$status" | grep -q 'smsgate.*online' || fail "Kannel's SMPP link never came online: $status"

reply=""
for i in $(seq 1 50); do
  reply=$(curl -s "http://127.0.0.1:$sendsms/cgi-bin/sendsms?username=tester&password=testpass&from=10690000&to=8613800138000&text=Hello+from+Kannel" || true)
  case "$reply" in *Accepted*|*Sent*) break;; esac
  sleep 0.2
done
case "$reply" in *Accepted*|*Sent*) ;; *) fail "sendsms answered: $reply";; esac

for i in $(seq 1 100); do
  grep -q 'Hello from Kannel' "$WORK/record.jsonl" 2>/dev/null && break
  sleep 0.1
done
grep -q 'Hello from Kannel' "$WORK/record.jsonl" || fail "the message never reached our SMSC"
grep -q '"dest":"8613800138000"' "$WORK/record.jsonl" || fail "destination not recorded: $(cat "$WORK/record.jsonl")"
echo PASS
