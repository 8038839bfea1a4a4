#!/usr/bin/env bash
# THE test command (README, CI): install the real peers the integration tests talk to
# (only when something is missing), generate the audio/pcap fixtures, then
# fmt --check, clippy -D warnings and every test target. Stops at the first failure.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -- FILTER...    extra arguments go to the test runner
#
# A failing step does not hide the others: fmt, clippy and the tests all run, every test
# runs (--no-fail-fast), and the summary at the end names each step that failed.
#
# Env: RUST_TEST_THREADS (default: 2 per core; the peer tests mostly wait on 30-60 s calls
#      and carry margins for a load average of 6), CARECALL_TEST_BIN (test another carecall
#      binary), SKIP_INSTALL=1.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = "--" ] && shift

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\n\033[31mFAILED: %s\033[0m\n' "$*" >&2; exit 1; }
# A check that fails is remembered and the run goes on, so one failure hides nothing.
failed=()
check_failed() { printf '\n\033[31mFAILED: %s\033[0m\n' "$*" >&2; failed+=("$*"); }

# 1. Peers: sipp (sip-tester), sox (+ all formats), espeak-ng, baresip, PostgreSQL, tcpdump,
#    and Debian's Chromium for the browser tests (driven over the DevTools protocol).
PACKAGES=(sip-tester sox libsox-fmt-all espeak-ng baresip-core postgresql tcpdump chromium fonts-dejavu-core)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ -z "${SKIP_INSTALL:-}" ]; then
  step "installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "need root (or sudo) to apt-get install ${missing[*]}"
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || fail "apt-get update"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]}"
else
  step "peers present (${PACKAGES[*]})"
fi
for bin in /usr/bin/sipp /usr/bin/baresip /usr/bin/chromium sox espeak-ng tcpdump python3; do
  command -v "$bin" >/dev/null || fail "$bin not found"
done
# sipp replays RTP pcaps through a raw socket.
[ "$(id -u)" -eq 0 ] || echo "warning: not root: sipp's pcap replay (play_pcap_audio) needs CAP_NET_RAW" >&2

# Node.js drives Chromium for the softphone tests (playwright-core from the npm registry).
if ! command -v npm >/dev/null && [ -z "${SKIP_INSTALL:-}" ]; then
  step "installing nodejs npm"
  { ${SUDO:-} apt-get update -qq && ${SUDO:-} apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; } || fail "apt-get install nodejs npm"
fi
step "npm ci (tests/browser)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/browser"

# 2. Fixtures (stamped: regenerated only when the timeline or tools change).
step "fixtures"
tests/peers/make-fixtures.sh || fail "tests/peers/make-fixtures.sh"

# 3. Static checks.
step "cargo fmt --check"
cargo fmt --all -- --check || check_failed "formatting (run cargo fmt)"
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings || check_failed "clippy"

# 4. Tests: unit tests beside the code, then integration tests against the real peers.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-$(( 2 * $(nproc) ))}
# The browser tests must not skip themselves here: Chromium was installed above.
export CARECALL_REQUIRE_BROWSER=1
if cargo nextest --version >/dev/null 2>&1; then
  step "cargo nextest run --all-targets"
  cargo nextest run --all-targets --no-fail-fast --test-threads "$RUST_TEST_THREADS" "$@" || check_failed "tests"
else
  step "cargo test --all-targets"
  cargo test --all-targets --no-fail-fast "$@" || check_failed "tests"
fi
if [ ${#failed[@]} -gt 0 ]; then
  printf '\n\033[31mFAILED steps:\033[0m\n' >&2
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
step "all green"
