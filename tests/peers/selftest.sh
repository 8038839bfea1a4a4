#!/usr/bin/env bash
# Runs every sipp UAS scenario in sipp/ against sipp/uac_ivr_sim.xml (sipp as the caller),
# to check the scenarios parse and behave without carecall. Exit 1 if a UAS run failed.
# Usage: tests/peers/selftest.sh [SCENARIO.xml...]   (needs root, sipp, fixtures)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/make-fixtures.sh"
F=$HERE/fixtures
W=$(mktemp -d /tmp/sipp-selftest.XXXXXX)
sox "$F/speech/q3.wav" -t ul "$W/prompt.ulaw"
PORT=${PORT:-25070}
fail=0
run() { # NAME UAS_ARGS -- UAC_ARGS
  local name=$1; shift; local uas=() uac=()
  while [ "$1" != "--" ]; do uas+=("$1"); shift; done; shift; uac=("$@")
  PORT=$((PORT + 10)); local d=$W/$name; mkdir -p "$d"
  (cd "$d" && timeout 120 sipp -sf "$HERE/sipp/$name" -i 127.0.0.1 -p $PORT -mi 127.0.0.1 -mp $((PORT + 2)) \
      -m 1 -nostdin -timeout 100 -timeout_error -trace_msg -message_file uas_msg.log -trace_logs -log_file uas_log.log \
      -trace_err -error_file uas_err.log "${uas[@]}" >uas.out 2>&1) & local uas_pid=$!
  sleep 0.5
  (cd "$d" && timeout 120 sipp 127.0.0.1:$PORT -sf "$HERE/sipp/uac_ivr_sim.xml" -key prompt "$W/prompt.ulaw,1,0" \
      -i 127.0.0.1 -p $((PORT + 1)) -mi 127.0.0.1 -mp $((PORT + 6)) -s 0901234567 -m 1 -nostdin \
      -trace_msg -message_file uac_msg.log "${uac[@]}" >uac.out 2>&1); local uac_rc=$?
  wait $uas_pid; local uas_rc=$?
  printf '%-26s uas=%-3s uac=%-3s %s\n' "$name" "$uas_rc" "$uac_rc" "$(grep -ho 'PEER_[A-Z_]* [0-9]*' "$d/uas_log.log" 2>/dev/null | tr '\n' ' ')"
  [ "$uas_rc" = 0 ] || { fail=1; tail -5 "$d/uas_err.log" 2>/dev/null; }
}
probe() { # NAME UAS_ARGS -- PROBE_ARGS: tools/sip_probe.py as the caller (garbage sipp cannot parse)
  local name=$1; shift; local uas=() pr=()
  while [ "$1" != "--" ]; do uas+=("$1"); shift; done; shift; pr=("$@")
  PORT=$((PORT + 10)); local d=$W/$name; mkdir -p "$d"
  (cd "$d" && timeout 120 sipp -sf "$HERE/sipp/$name" -i 127.0.0.1 -p $PORT -mi 127.0.0.1 -mp $((PORT + 2)) \
      -m 1 -nostdin -timeout 100 -timeout_error -trace_msg -message_file uas_msg.log -trace_logs -log_file uas_log.log \
      -trace_err -error_file uas_err.log "${uas[@]}" >uas.out 2>&1) & local uas_pid=$!
  sleep 0.5
  python3 "$HERE/tools/sip_probe.py" 127.0.0.1:$PORT "${pr[@]}" >"$d/probe.out" 2>&1; local pr_rc=$?
  wait $uas_pid; local uas_rc=$?
  printf '%-26s uas=%-3s probe=%-3s %s\n' "$name" "$uas_rc" "$pr_rc" "$(grep -ho 'PEER_[A-Z_]* [0-9]*' "$d/uas_log.log" 2>/dev/null | tr '\n' ' ')"
  [ "$uas_rc" = 0 ] || { fail=1; tail -5 "$d/uas_err.log" 2>/dev/null; cat "$d/probe.out"; }
}
sel=("$@"); pick() { [ ${#sel[@]} -eq 0 ] || printf '%s\n' "${sel[@]}" | grep -qx "$1"; }
pick uas_survey_answer.xml && run uas_survey_answer.xml -key pcap "$F/survey_rfc4733.pcap" -- -d 4000
pick uas_auth407_answer.xml && run uas_auth407_answer.xml -key user ivr -key pcap "$F/survey_rfc4733.pcap" -- -au ivr -ap secret -d 4000
pick uas_auth407_answer.xml && probe uas_auth407_answer.xml -key user ivr -key pcap "$F/survey_rfc4733.pcap" -- --user ivr --password secret && python3 "$HERE/tools/digest_check.py" "$W/uas_auth407_answer.xml/uas_msg.log" secret
pick uas_auth401_answer.xml && run uas_auth401_answer.xml -key user ivr -key pass secret -key pcap "$F/survey_rfc4733.pcap" -- -au ivr -ap secret -d 4000
pick uas_auth407_wrong.xml && probe uas_auth407_wrong.xml -key user ivr -- --user ivr --password wrong
pick uas_auth401_wrong.xml && probe uas_auth401_wrong.xml -key user ivr -key pass secret -- --user ivr --password ${WRONG:-wrong}
pick uas_auth401_answer.xml && probe uas_auth401_answer.xml -key user ivr -key pass secret -key pcap "$F/survey_rfc4733.pcap" -- --user ivr --password secret
pick uas_busy.xml && run uas_busy.xml -- 
pick uas_noanswer.xml && run uas_noanswer.xml --
pick uas_reject603.xml && run uas_reject603.xml --
pick uas_488.xml && run uas_488.xml --
pick uas_garbage_sdp.xml && probe uas_garbage_sdp.xml -- --hold 2
pick uas_broken_headers.xml && probe uas_broken_headers.xml -key pcap "$F/survey_garbled.pcap" -- --hold 4
echo "logs: $W"
exit $fail
