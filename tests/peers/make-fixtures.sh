#!/usr/bin/env bash
# Generates the audio/pcap fixtures the peer tests replay into tests/peers/fixtures/
# (not committed). Inputs: survey-timeline.txt and tools/*.py; regenerated only when
# one of them (or this script) changes. Safe to run concurrently (flock).
# Needs: python3, sox, espeak-ng (scripts/test.sh installs them).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/fixtures
TOOLS=$HERE/tools
TIMELINE=$HERE/survey-timeline.txt
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
STAMP=$(cat "$0" "$TIMELINE" "$TOOLS"/*.py | sha256sum | cut -c1-16)
if [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$STAMP" ]; then
  exit 0
fi
for bin in python3 sox espeak-ng; do
  command -v "$bin" >/dev/null || { echo "make-fixtures: $bin missing (run scripts/test.sh as root once)" >&2; exit 1; }
done
TMP=$(mktemp -d "$OUT/.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
mkdir speech

# Spoken answers: Vietnamese espeak-ng (22.05 kHz) -> 8 kHz mono 16-bit, at most 3.2 s.
speak() { # NAME TEXT
  espeak-ng -v vi -s 150 -w "$1.22k.wav" "$2"
  sox "$1.22k.wav" -r 8000 -c 1 -b 16 -e signed-integer "speech/$1.wav" trim 0 3.2 gain -n -3
  rm -f "$1.22k.wav"
}
speak q3 "Thủ tục cần đơn giản hơn, cán bộ nên hướng dẫn rõ ràng."
speak q5 "Tôi đề nghị mở thêm quầy tiếp nhận vào buổi chiều."

# Microphones (the callee's side of the call, answer at t=0): speech only, and
# speech + in-band DTMF tones.
python3 "$TOOLS/mktimeline.py" "$TIMELINE" --speech-dir speech --wav mic_speech.wav
python3 "$TOOLS/mktimeline.py" "$TIMELINE" --speech-dir speech --wav mic_inband.wav --inband

# sipp RTP streams (one SSRC, rising seq/ts, 20 ms PCMU packets):
# RFC 4733 digits over the speech mic; in-band mic alone; the first with garbage mixed in;
# and 90 s of silence (a callee who never answers a question).
# shellcheck disable=SC2046
python3 "$TOOLS/mkdtmfpcap.py" -o survey_rfc4733.pcap --audio mic_speech.wav --codec pcmu \
  $(python3 "$TOOLS/mktimeline.py" "$TIMELINE" --pcap-args)
DUR=$(python3 "$TOOLS/mktimeline.py" "$TIMELINE" --duration)
python3 "$TOOLS/mkdtmfpcap.py" -o survey_inband.pcap --audio mic_inband.wav --codec pcmu --lead "$DUR" --tail 0
python3 "$TOOLS/pcapgarble.py" survey_rfc4733.pcap survey_garbled.pcap --every 25
python3 "$TOOLS/mkdtmfpcap.py" -o silence.pcap --audio silence --codec pcmu --lead "$DUR" --tail 0
# Issue 15: the citizen's line goes quiet right after Q4 ("1","0","#" at 50.5-52.5 s): the
# same answers, then no RTP at all from 54 s. Q1 and Q4 make the response complete.
awk '$1 ~ /^[0-9.]+$/ && $1 + 0 > 53 { next } { print } END { print "54.0 end" }' \
  "$TIMELINE" > until_q4.txt
python3 "$TOOLS/mktimeline.py" until_q4.txt --speech-dir speech --wav mic_until_q4.wav
# shellcheck disable=SC2046
python3 "$TOOLS/mkdtmfpcap.py" -o survey_until_q4.pcap --audio mic_until_q4.wav --codec pcmu \
  $(python3 "$TOOLS/mktimeline.py" until_q4.txt --pcap-args)
rm -f until_q4.txt
# A network announcement played as early media (183 + SDP) before the answer: 5.5 s of speech.
python3 "$TOOLS/mkdtmfpcap.py" -o announcement.pcap --audio "$HERE/../fixtures/speech_vi.wav" \
  --codec pcmu --lead 8 --tail 0

# Bridge to an operator (tests/bridge.rs), A-law like a Vietnamese trunk. The citizen
# speaks during the greeting (1-6.5 s), presses 0 at 15 s (type-ahead for the consent
# question: operator), then speaks to the operator (22-33.5 s). The no-operator variant
# also presses 1 at ~29 s (yes, call me back). The operator's "voice" is a 440 Hz tone,
# so the recording's right channel tells prompts from the operator.
SPEECH="$HERE/../fixtures/speech_vi.wav"
sox -n -r 8000 -c 1 -b 16 -e signed-integer sil1.wav trim 0 1
sox -n -r 8000 -c 1 -b 16 -e signed-integer sil05.wav trim 0 0.5
sox sil1.wav "$SPEECH" citizen_a.wav pad 0 0 && sox citizen_a.wav citizen_b.wav pad 0 "$(python3 -c "import sys; print(22 - float(sys.argv[1]))" "$(soxi -D citizen_a.wav)")"
sox citizen_b.wav "$SPEECH" sil05.wav "$SPEECH" sil1.wav sil1.wav sil1.wav sil1.wav citizen_bridge.wav
python3 "$TOOLS/mkdtmfpcap.py" -o bridge_citizen.pcap --audio citizen_bridge.wav --codec pcma --lead 15 --tail 20 0
python3 "$TOOLS/mkdtmfpcap.py" -o bridge_callback.pcap --audio citizen_bridge.wav --codec pcma --lead 15 --tail 6 0/14 1
sox -n -r 8000 -c 1 -b 16 -e signed-integer operator_short.wav synth 12 sine 440 gain -9
sox -n -r 8000 -c 1 -b 16 -e signed-integer operator_long.wav synth 90 sine 440 gain -9
rm -f sil1.wav sil05.wav citizen_a.wav citizen_b.wav

# baresip: ctrl_tcp steps sending the same digits with /sndcode.
python3 "$TOOLS/mktimeline.py" "$TIMELINE" --ctrl-steps > ctrl_steps.txt

cd "$OUT"
rm -rf speech ./*.wav ./*.pcap ctrl_steps.txt
mv "$TMP"/* .
echo "$STAMP" > .stamp
echo "make-fixtures: fixtures in $OUT"
