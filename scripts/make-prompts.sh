#!/usr/bin/env bash
# Regenerates the prompt WAVs of a language from its manifest.toml.
#
#   scripts/make-prompts.sh [--force] [--dir prompts/vi] [name ...]
#
# Speech: espeak-ng (voice $ESPEAK_VOICE, default "vi"; try vi-vn-x-south) → sox:
# leading/trailing silence trimmed, 100 ms of silence added at each end, 8 kHz mono
# 16-bit PCM, peak-normalised to -3 dBFS, no dither (so regenerating an unchanged
# manifest gives byte-identical files). Tones (tone_hz/tone_ms) are synthesised by sox.
#
# Entries marked `studio = true` are studio recordings and are skipped unless
# --force. With names, only those prompts are regenerated.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/prompts/vi"
force=0
only=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) force=1 ;;
    --dir) dir="$(cd "$2" && pwd)"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) only+=("$1") ;;
  esac
  shift
done
voice="${ESPEAK_VOICE:-vi}"
speed="${ESPEAK_SPEED:-145}"
for tool in espeak-ng sox python3; do
  command -v "$tool" >/dev/null || { echo "make-prompts: $tool is not installed" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# One line per prompt: name, studio, tone_hz, tone_ms, words, separated by US (0x1f):
# a non-blank separator, so `read` keeps empty fields.
python3 - "$dir/manifest.toml" >"$tmp/list" <<'PY'
import re, sys, tomllib
with open(sys.argv[1], "rb") as f:
    manifest = tomllib.load(f)
slug = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
for p in manifest.get("prompt", []):
    name = p["name"]
    if not slug.match(name):
        sys.exit(f"invalid prompt name {name!r}")
    words = " ".join((p.get("tts") or p["text"]).split())
    print("\x1f".join([name, "1" if p.get("studio") else "0",
                     str(p.get("tone_hz", "")), str(p.get("tone_ms", "")), words]))
PY

wanted() {
  [[ ${#only[@]} -eq 0 ]] && return 0
  local n; for n in "${only[@]}"; do [[ "$n" == "$1" ]] && return 0; done
  return 1
}

made=0 kept=0
while IFS=$'\x1f' read -r name studio tone_hz tone_ms words; do
  wanted "$name" || continue
  out="$dir/$name.wav"
  if [[ "$studio" == 1 && $force == 0 ]]; then
    echo "keep  $name (studio)"; kept=$((kept + 1)); continue
  fi
  mkdir -p "$(dirname "$out")"
  fmt=(-D -r 8000 -c 1 -b 16 -e signed-integer)
  if [[ -n "$tone_hz" ]]; then
    secs="$(python3 -c "print(${tone_ms:-400} / 1000)")"
    sox -n "${fmt[@]}" "$out" synth "$secs" sine "$tone_hz" fade q 0.01 "$secs" 0.01 gain -n -3
  else
    espeak-ng -v "$voice" -s "$speed" -w "$tmp/raw.wav" "$words"
    sox "$tmp/raw.wav" "${fmt[@]}" "$out" \
      silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
      gain -6 rate -v 8000 pad 0.1 0.1 gain -n -3
  fi
  echo "made  $name ($(soxi -D "$out") s)"; made=$((made + 1))
done <"$tmp/list"
echo "make-prompts: $made generated, $kept studio files kept in $dir"
