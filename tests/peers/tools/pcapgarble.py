#!/usr/bin/env python3
"""Mix garbage datagrams into an RTP pcap (as made by mkdtmfpcap.py), to check that a
receiver survives them: every Nth packet is followed 1 ms later by one of
  - 3 bytes (shorter than an RTP header),
  - version 0 header (not RTP),
  - RTP v2 with CSRC count 15 but no room for the CSRC list,
  - RTP v2 with the extension bit and an extension length pointing past the end,
  - RTP v2 with padding bit and a padding count larger than the packet,
  - RTP v2 with an unknown payload type 77 and random bytes,
  - RTP v2, same SSRC, telephone-event PT with a 1-byte payload (truncated event).
Usage: pcapgarble.py IN.pcap OUT.pcap [--every 25]"""
import argparse, random, struct

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('inp'); ap.add_argument('out')
    ap.add_argument('--every', type=int, default=25); ap.add_argument('--seed', type=int, default=1022)
    a = ap.parse_args(); rnd = random.Random(a.seed)
    data = open(a.inp, 'rb').read()
    ghdr, body, off = data[:24], [], 24
    recs = []
    while off + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack('<IIII', data[off:off + 16])
        recs.append((sec, usec, data[off + 16:off + 16 + incl])); off += 16 + incl
    # the stream's own SSRC (Ethernet 14 + IPv4 20 + UDP 8 = 42 bytes before RTP)
    ssrc = struct.unpack('!I', recs[0][2][42 + 8:42 + 12])[0] if recs else 0
    def garbage(k):
        seq, ts = rnd.getrandbits(16), rnd.getrandbits(32)
        hdr = lambda b0, b1: struct.pack('!BBHII', b0, b1, seq, ts, ssrc)
        kind = k % 7
        if kind == 0: return b'\x80\x00\x01'
        if kind == 1: return bytes([0x00]) + bytes(rnd.getrandbits(8) for _ in range(171))
        if kind == 2: return hdr(0x8F, 0) + b'\x00' * 8
        if kind == 3: return hdr(0x90, 0) + struct.pack('!HH', 0xBEDE, 0xFFFF) + b'\x00' * 16
        if kind == 4: return hdr(0xA0, 0) + b'\xff' * 20 + b'\xfe'
        if kind == 5: return hdr(0x80, 77) + bytes(rnd.getrandbits(8) for _ in range(160))
        return hdr(0x80, 101) + b'\x01'
    out = [ghdr]; n = 0
    for i, (sec, usec, fr) in enumerate(recs):
        out.append(struct.pack('<IIII', sec, usec, len(fr), len(fr)) + fr)
        if i % a.every == a.every - 1:
            pay = garbage(n); n += 1
            eth, ip, udp = fr[:14], bytearray(fr[14:34]), bytearray(fr[34:42])
            struct.pack_into('!H', ip, 2, 20 + 8 + len(pay)); struct.pack_into('!H', ip, 10, 0)
            s = sum(struct.unpack('!10H', bytes(ip)))
            while s >> 16: s = (s & 0xFFFF) + (s >> 16)
            struct.pack_into('!H', ip, 10, ~s & 0xFFFF)
            struct.pack_into('!H', udp, 4, 8 + len(pay)); struct.pack_into('!H', udp, 6, 0)
            g = eth + bytes(ip) + bytes(udp) + pay
            u = usec + 1000; s2 = sec + u // 1000000; u %= 1000000
            out.append(struct.pack('<IIII', s2, u, len(g), len(g)) + g)
    open(a.out, 'wb').write(b''.join(out))
    print(f"{a.out}: {len(recs)} packets + {n} garbage")

main()
