#!/usr/bin/env python3
"""Send-interval statistics of RTP streams in a capture (pcap, Ethernet or Linux
cooked/SLL/SLL2/raw link types, as written by `tcpdump -i lo -w`).

  rtp_intervals.py CAPTURE.pcap [--src-ports LO-HI] [--min-packets 50]

Groups packets by (source address, source port, SSRC); for each stream prints the
packet count and the p50/p99/max inter-packet delta in ms (20 ms ptime: a good
sender shows p50 ~20.0 and p99 close to it), then the same over all streams.
--src-ports keeps only packets sent FROM that UDP port range (carecall's
[media] rtp_ports), so the peers' streams are left out."""
import argparse, struct, sys

def packets(path):
    d = open(path, 'rb').read()
    magic = struct.unpack('<I', d[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d): end = '<'
    elif magic in (0xd4c3b2a1, 0x4d3cb2a1): end = '>'
    else: sys.exit(f"{path}: not a pcap (pcapng? write with tcpdump -w, not tshark)")
    nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
    link = struct.unpack(end + 'I', d[20:24])[0]
    off = 24
    while off + 16 <= len(d):
        sec, frac, incl, _ = struct.unpack(end + 'IIII', d[off:off + 16])
        fr = d[off + 16:off + 16 + incl]; off += 16 + incl
        t = sec + frac / (1e9 if nano else 1e6)
        if link == 1: ip = fr[14:] if fr[12:14] == b'\x08\x00' else None
        elif link == 113: ip = fr[16:] if fr[14:16] == b'\x08\x00' else None
        elif link == 276: ip = fr[20:] if fr[0:2] == b'\x08\x00' else None
        elif link in (101, 228): ip = fr
        elif link == 0: ip = fr[4:]
        else: sys.exit(f"unsupported link type {link}")
        if not ip or ip[0] >> 4 != 4 or ip[9] != 17: continue
        ihl = (ip[0] & 15) * 4; udp = ip[ihl:ihl + 8]; pay = ip[ihl + 8:]
        if len(udp) < 8 or len(pay) < 12 or pay[0] >> 6 != 2: continue
        sport = struct.unpack('!H', udp[:2])[0]
        ssrc = struct.unpack('!I', pay[8:12])[0]
        pt = pay[1] & 0x7F
        if 72 <= pt <= 79: continue  # RTCP
        yield t, '.'.join(map(str, ip[12:16])), sport, ssrc

def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('pcap')
    ap.add_argument('--src-ports'); ap.add_argument('--min-packets', type=int, default=50)
    a = ap.parse_args()
    lo, hi = (map(int, a.src_ports.split('-')) if a.src_ports else (0, 65535))
    last, deltas = {}, {}
    for t, src, sport, ssrc in packets(a.pcap):
        if not lo <= sport <= hi: continue
        k = (src, sport, ssrc)
        if k in last: deltas.setdefault(k, []).append((t - last[k]) * 1000)
        last[k] = t
    allv = []
    for k, v in sorted(deltas.items()):
        if len(v) + 1 < a.min_packets: continue
        allv += v
        print(f"{k[0]}:{k[1]} ssrc={k[2]:08x} packets={len(v) + 1} p50={pct(v, 50):.2f}ms p99={pct(v, 99):.2f}ms max={max(v):.2f}ms")
    if not allv: print("no RTP stream with enough packets"); sys.exit(1)
    print(f"ALL streams={sum(1 for v in deltas.values() if len(v) + 1 >= a.min_packets)} p50={pct(allv, 50):.2f}ms p99={pct(allv, 99):.2f}ms max={max(allv):.2f}ms")

main()
