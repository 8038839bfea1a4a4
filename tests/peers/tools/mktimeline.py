#!/usr/bin/env python3
"""Turn a peer timeline (tests/peers/survey-timeline.txt) into what each peer needs.

A timeline line is `SECONDS KIND ARG`, seconds counted from the moment the call is
answered (sipp: ACK received, baresip: CALL_ESTABLISHED):
    15.0  digit  1        ; a DTMF key (full-line comments start with '#')
    27.0  speech q3       speech clip SPEECH_DIR/q3.wav (8 kHz mono 16-bit)
    80.0  end    -        length of the peer's media (silence after the last event)

  mktimeline.py TIMELINE --speech-dir DIR --wav OUT.wav [--inband]
      the peer's microphone: speech clips (and with --inband the digits as DTMF
      tones, 150 ms at -6 dBFS per tone pair) at their times, silence elsewhere.
  mktimeline.py TIMELINE --pcap-args
      prints the mkdtmfpcap.py arguments (--lead, digit/gap tokens, --tail 0) that
      send the timeline's digits as RFC 4733 events at their times.
  mktimeline.py TIMELINE --ctrl-steps
      prints baresip_ctrl.py steps sending the digits with /sndcode at their times.
  mktimeline.py TIMELINE --duration
      prints the `end` time."""
import argparse, math, struct, sys, wave

RATE = 8000
TONE_MS = 100            # RFC 4733 event length in the pcap (mkdtmfpcap --tone-ms)
INBAND_MS = 150          # in-band tone length (Q.24 asks for >= 40 ms; detectors like more)
LOW = {'1': 697, '2': 697, '3': 697, 'A': 697, '4': 770, '5': 770, '6': 770, 'B': 770,
       '7': 852, '8': 852, '9': 852, 'C': 852, '*': 941, '0': 941, '#': 941, 'D': 941}
HIGH = {'1': 1209, '2': 1336, '3': 1477, 'A': 1633, '4': 1209, '5': 1336, '6': 1477, 'B': 1633,
        '7': 1209, '8': 1336, '9': 1477, 'C': 1633, '*': 1209, '0': 1336, '#': 1477, 'D': 1633}


def parse(path):
    events, end = [], None
    for raw in open(path, encoding='utf-8'):
        # full-line comments start with '#', inline comments with ';' ('#' is a key)
        parts = raw.split(';', 1)[0].split()
        if not parts or parts[0].startswith('#'):
            continue
        t, kind = float(parts[0]), parts[1]
        arg = parts[2] if len(parts) > 2 else ''
        if kind == 'end':
            end = t
        elif kind in ('digit', 'speech'):
            events.append((t, kind, arg))
        else:
            sys.exit(f"{path}: unknown event kind {kind!r}")
    if end is None:
        sys.exit(f"{path}: no `end` line")
    events.sort()
    return events, end


def q20(x):
    """Round to the 20 ms packet grid mkdtmfpcap works on."""
    return round(x / 0.02) * 0.02


def pcap_args(events, end):
    digits = [(t, d) for t, k, d in events if k == 'digit']
    if not digits:
        return ['--lead', f'{q20(end):.2f}', '--tail', '0']
    args = ['--lead', f'{q20(digits[0][0]):.2f}', '--tone-ms', str(TONE_MS), '--tail', '0']
    for i, (t, d) in enumerate(digits):
        nxt = digits[i + 1][0] if i + 1 < len(digits) else end
        gap = q20(nxt - t - TONE_MS / 1000)
        if gap < 0.2:
            sys.exit(f"digit at {t} s is too close to the next event")
        args.append(f'{d}/{gap:.2f}')
    return args


def ctrl_steps(events, end):
    steps, now = ['wait:CALL_ESTABLISHED:60'], 0.0
    for t, kind, d in events:
        if kind != 'digit':
            continue
        if t > now:
            steps.append(f'sleep:{t - now:.2f}')
        steps.append(f'cmd:sndcode:{d}')
        now = t + 0.2  # baresip_ctrl.py drains 0.2 s after each command
    steps.append(f'wait:CALL_CLOSED:{end + 60:.0f}')
    return steps


def read_clip(path):
    w = wave.open(path, 'rb')
    if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
        sys.exit(f"{path}: need 8 kHz mono 16-bit")
    raw = w.readframes(w.getnframes())
    return struct.unpack('<%dh' % (len(raw) // 2), raw)


def make_wav(events, end, speech_dir, out, inband):
    buf = [0] * int(end * RATE)
    for t, kind, arg in events:
        start = int(t * RATE)
        if kind == 'speech':
            clip = read_clip(f'{speech_dir}/{arg}.wav')
        elif inband:
            n = INBAND_MS * RATE // 1000
            amp = 32767 * 10 ** (-6 / 20) / 2  # -6 dBFS per tone pair, peak below clipping
            lo, hi = LOW[arg], HIGH[arg]
            clip = [int(amp * (math.sin(2 * math.pi * lo * i / RATE) + math.sin(2 * math.pi * hi * i / RATE)))
                    for i in range(n)]
        else:
            continue
        for i, s in enumerate(clip):
            if start + i < len(buf):
                buf[start + i] = max(-32768, min(32767, buf[start + i] + s))
    w = wave.open(out, 'wb')
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(RATE)
    w.writeframes(struct.pack('<%dh' % len(buf), *buf))
    w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('timeline')
    ap.add_argument('--speech-dir'); ap.add_argument('--wav'); ap.add_argument('--inband', action='store_true')
    ap.add_argument('--pcap-args', action='store_true'); ap.add_argument('--ctrl-steps', action='store_true')
    ap.add_argument('--duration', action='store_true')
    a = ap.parse_args()
    events, end = parse(a.timeline)
    if a.pcap_args:
        print(' '.join(pcap_args(events, end)))
    elif a.ctrl_steps:
        print('\n'.join(ctrl_steps(events, end)))
    elif a.duration:
        print(f'{end:.2f}')
    elif a.wav:
        if not a.speech_dir:
            sys.exit('--wav needs --speech-dir')
        make_wav(events, end, a.speech_dir, a.wav, a.inband)
    else:
        sys.exit('nothing to do: give --wav, --pcap-args, --ctrl-steps or --duration')


main()
