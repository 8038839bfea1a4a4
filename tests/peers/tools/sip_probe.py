#!/usr/bin/env python3
"""Minimal UDP SIP caller to poke a UAS scenario by hand (for scenarios sipp-as-UAC cannot
digest, e.g. a 200 OK with garbage SDP). Sends an INVITE (PCMU/PCMA/telephone-event offer,
From 1022), prints every datagram received, ACKs final responses, optionally answers a 401/407
with a digest (--user/--password), sends BYE HOLD seconds after a 2xx, answers a BYE with 200.
Usage: sip_probe.py HOST:PORT [--hold 3] [--user U --password P] [--timeout 20]
Exit 0 when a final response arrived."""
import argparse, hashlib, random, re, socket, sys, time

md5 = lambda s: hashlib.md5(s.encode()).hexdigest()

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('target')
    ap.add_argument('--hold', type=float, default=3); ap.add_argument('--timeout', type=float, default=20)
    ap.add_argument('--user'); ap.add_argument('--password')
    a = ap.parse_args(); host, port = a.target.rsplit(':', 1); dst = (host, int(port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); lp = s.getsockname()[1]
    callid = f'{random.getrandbits(48):x}@probe'; tag = f'{random.getrandbits(32):x}'; uri = f'sip:0901234567@{a.target}'
    sdp = ('v=0\r\no=probe 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
           f'm=audio {lp + 2} RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n')
    def req(method, cseq, branch, extra='', body='', to=f'<{uri}>', ruri=uri):
        m = (f'{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK{branch}\r\n'
             f'From: "1022" <sip:1022@127.0.0.1:{lp}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {callid}\r\n'
             f'CSeq: {cseq} {method}\r\nContact: <sip:1022@127.0.0.1:{lp}>\r\nMax-Forwards: 70\r\n{extra}'
             + ('Content-Type: application/sdp\r\n' if body else '') + f'Content-Length: {len(body)}\r\n\r\n{body}')
        s.sendto(m.encode(), dst); print(f'> {method} cseq={cseq}', flush=True)
    cseq, branch = 1, f'{random.getrandbits(40):x}'
    req('INVITE', cseq, branch, body=sdp)
    end = time.time() + a.timeout; final = None; bye_at = None; to_hdr = None; contact = uri
    while time.time() < end:
        s.settimeout(0.2)
        if bye_at and time.time() >= bye_at:
            req('BYE', cseq + 1, f'{random.getrandbits(40):x}', to=to_hdr, ruri=contact); bye_at = None; end = time.time() + 5
        try: d, _ = s.recvfrom(65535)
        except socket.timeout: continue
        txt = d.decode(errors='replace'); first = txt.split('\r\n', 1)[0]
        print(f'< {first!r} ({len(d)} bytes)', flush=True)
        if first.startswith('BYE '):
            via = re.search(r'^Via:.*$', txt, re.M | re.I).group(0)
            hdrs = '\r\n'.join(h for h in txt.split('\r\n') if re.match(r'(From|To|Call-ID|CSeq):', h, re.I))
            s.sendto(f'SIP/2.0 200 OK\r\n{via}\r\n{hdrs}\r\nContent-Length: 0\r\n\r\n'.encode(), dst); print('> 200 (BYE)'); break
        m = re.match(r'SIP/2\.0 (\d{3}) ', first)
        if not m: continue
        code = int(m.group(1)); cs = re.search(r'^CSeq:\s*(\d+)\s+(\w+)', txt, re.M | re.I)
        if not cs or cs.group(2) != 'INVITE':
            if cs and cs.group(2) == 'BYE' and code >= 200: break
            continue
        th = re.search(r'^To:\s*(.*)$', txt, re.M | re.I)
        if code < 200 or th is None: continue
        to_hdr = th.group(1).strip()
        if code >= 300:
            req('ACK', int(cs.group(1)), branch, to=to_hdr)
            ch = re.search(r'^(WWW|Proxy)-Authenticate:\s*Digest\s+(.*)$', txt, re.M | re.I)
            if ch and a.user and int(cs.group(1)) == 1:
                p = dict((k.lower(), v.strip('"')) for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', ch.group(2)))
                ha1 = md5(f"{a.user}:{p['realm']}:{a.password}"); ha2 = md5(f'INVITE:{uri}')
                auth = f'Digest username="{a.user}", realm="{p["realm"]}", nonce="{p["nonce"]}", uri="{uri}", algorithm=MD5'
                if 'qop' in p:
                    cn = f'{random.getrandbits(32):x}'
                    r = md5(f"{ha1}:{p['nonce']}:00000001:{cn}:auth:{ha2}"); auth += f', qop=auth, nc=00000001, cnonce="{cn}"'
                else: r = md5(f"{ha1}:{p['nonce']}:{ha2}")
                hdr = 'Proxy-Authorization' if ch.group(1).lower() == 'proxy' else 'Authorization'
                cseq, branch = 2, f'{random.getrandbits(40):x}'
                req('INVITE', cseq, branch, extra=f'{hdr}: {auth}, response="{r}"\r\n', body=sdp); continue
            final = code; break
        final = code
        ct = re.search(r'^Contact:\s*<([^>]+)>', txt, re.M | re.I); contact = ct.group(1) if ct else uri
        req('ACK', int(cs.group(1)), f'{random.getrandbits(40):x}', to=to_hdr, ruri=contact)
        if bye_at is None: bye_at = time.time() + a.hold
    print(f'final={final}'); sys.exit(0 if final else 1)

main()
