#!/usr/bin/env bash
# Load check: sipp plays the trunk and answers N concurrent calls, each replaying the
# survey answers (RFC 4733 digits + speech, tests/peers/fixtures/survey_rfc4733.pcap),
# while one `carecall call --repeat N` process places them all at once.
#
#   scripts/load.sh N [DURATION]
#     N         concurrent calls (default 10)
#     DURATION  seconds each call may take before it is killed (default 150)
#
# Prints calls completed/failed, carecall CPU seconds per call-minute (user+sys from
# /usr/bin/time, over the summed recording lengths) and carecall's RTP send intervals
# p50/p99 (tcpdump on lo of the packets sent from carecall's rtp_ports, analysed by
# tests/peers/tools/rtp_intervals.py: inter-packet deltas per SSRC).
#
# Builds carecall in release mode (CARECALL_BIN=path skips the build). Needs root
# (sipp's pcap replay, tcpdump).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
DURATION=${2:-150}
ROOT=$PWD
tests/peers/make-fixtures.sh
if [ -z "${CARECALL_BIN:-}" ]; then
  cargo build --release --bin carecall
  CARECALL_BIN=$ROOT/target/release/carecall
fi
W=$(mktemp -d /tmp/carecall-load.XXXXXX)
SIP_PORT=${SIP_PORT:-15070}
RTP_LO=24000; RTP_HI=$((RTP_LO + 4 * N + 99))
echo "load: $N calls, work dir $W"

cleanup() {
  for pid in ${SIPP_PID:-} ${TCPDUMP_PID:-}; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

cat > "$W/carecall.toml" <<TOML
[sip]
bind = "127.0.0.1:0"
public_addr = ""
[trunk]
uri = "sip:127.0.0.1:$SIP_PORT"
username = ""
password = ""
caller_id = "1022"
transport = "udp"
register = false
ring_timeout_secs = 30
number_format = "national"
[media]
rtp_ports = "$RTP_LO-$RTP_HI"
codecs = ["PCMA", "PCMU"]
no_media_timeout_secs = 10
[database]
url = "sqlite://$W/carecall.db"
[recordings]
dir = "$W/recordings"
[ivr]
dialplans_dir = "$ROOT/dialplans"
prompts_dir = "$ROOT/prompts/vi"
TOML
: > "$W/carecall.db"; mkdir -p "$W/recordings"

tcpdump -i lo -n -s 128 -U -w "$W/rtp.pcap" "udp and src portrange $RTP_LO-$RTP_HI" >"$W/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
(cd "$W" && exec sipp -sf "$ROOT/tests/peers/sipp/uas_survey_answer.xml" \
    -key pcap "$ROOT/tests/peers/fixtures/survey_rfc4733.pcap" \
    -i 127.0.0.1 -p "$SIP_PORT" -mi 127.0.0.1 -mp $((SIP_PORT + 2)) -m "$N" \
    -nostdin -timeout $((DURATION + 60)) -trace_err -error_file sipp_errors.log >sipp.out 2>&1) &
SIPP_PID=$!
sleep 1

start=$(date +%s.%N)
# One carecall process places all N calls at once (`call --repeat N`), as the
# dialer will: one SIP endpoint, one DB pool, one 20 ms media clock per call task.
(cd "$W" && timeout "$DURATION" /usr/bin/time -f '%U %S %e %M' -o time.txt \
    "$CARECALL_BIN" call 0912345678 --repeat "$N" --dialplan survey-1022 --config carecall.toml \
    >calls.jsonl 2>carecall.log) || true
end=$(date +%s.%N)
sleep 1; kill "$TCPDUMP_PID" 2>/dev/null || true; wait "$TCPDUMP_PID" 2>/dev/null || true
wait "$SIPP_PID" 2>/dev/null; SIPP_RC=$?; SIPP_PID=

python3 - "$W" "$N" "$start" "$end" <<'PY'
import json, sys
w, n, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
disp, secs = {}, 0.0
for line in open(f'{w}/calls.jsonl'):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    d = j.get('disposition', '?'); secs += float((j.get('recording') or {}).get('seconds') or 0)
    disp[d] = disp.get(d, 0) + 1
missing = n - sum(disp.values())
if missing: disp['no-json'] = missing
u, s, e, rss = open(f'{w}/time.txt').read().split()[-4:]
cpu = float(u) + float(s)
done = disp.get('completed', 0)
print(f"calls: {n}  completed: {done}  failed/other: {n - done}  {dict(sorted(disp.items()))}")
print(f"wall: {t1 - t0:.1f} s   carecall CPU: {cpu:.2f} s (user {u}, sys {s})   max RSS: {int(rss)//1024} MiB   recorded: {secs / 60:.2f} call-min")
print(f"CPU seconds per call-minute: {cpu / (secs / 60):.3f}" if secs else "CPU per call-minute: n/a (no recordings)")
PY
echo "sipp exit $SIPP_RC (0 = every call passed the scenario's checks)"
echo "RTP send intervals of carecall (tcpdump on lo, src ports $RTP_LO-$RTP_HI):"
python3 tests/peers/tools/rtp_intervals.py "$W/rtp.pcap" --src-ports "$RTP_LO-$RTP_HI" | tail -3 || true
echo "artifacts: $W"
