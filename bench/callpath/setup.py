#!/usr/bin/env python3
"""Helpers of the call-path benchmark (standard library only).

  setup.py config N OUT            the demo centre plus N agents 2001.. (password pass<ext>),
                                   no wrap-up, no rate limit per source, room for many calls
  setup.py register SIP PORT N     registers agents 2001..2000+N from 127.0.0.1:PORT (digest
                                   MD5, qop=auth), so that a sipp phone on that port answers
                                   for all of them
  setup.py available HTTP N        the supervisor makes agents 2001..2000+N available
  setup.py report DB SINCE_NS      per-interaction timings of calls that started after
                                   SINCE_NS: prints calls, answered by an agent, and the
                                   p50/p99 of INVITE->agent rung and queued->agent rung (ms),
                                   and the rate the calls arrived at
"""
import hashlib
import json
import os
import random
import socket
import sqlite3
import sys
import urllib.request

REALM = "hotline"


def config(n, out):
    here = os.path.dirname(os.path.abspath(__file__))
    text = open(os.path.join(here, "..", "..", "examples", "demo.toml"), encoding="utf-8").read()
    text = text.replace("wrap_up_seconds = 30", "wrap_up_seconds = 0")
    text = text.replace("rate_per_second = 100", "rate_per_second = 1000000")
    text = text.replace("burst = 200", "burst = 1000000")
    text = text.replace('service_numbers = ["95588"]', 'service_numbers = ["95588"]\nmax_calls = 20000')
    # Registrations that outlive a soak of several hours.
    text = text.replace('realm = "hotline"\n', 'realm = "hotline"\nmax_expires = 86400\n', 1)
    agents = []
    for i in range(n):
        ext = str(2001 + i)
        pw = "pass" + ext
        md5 = hashlib.md5(f"{ext}:{REALM}:{pw}".encode()).hexdigest()
        sha = hashlib.sha256(f"{ext}:{REALM}:{pw}".encode()).hexdigest()
        agents.append(
            f'[[agents]]\nextension = "{ext}"\nha1_md5 = "{md5}"\nha1_sha256 = "{sha}"\n'
            "skills = { accounts = 5, cards = 5, complaints = 5, general = 5 }\n"
        )
    # Agents go before the first queue, beside the demo's own.
    cut = text.index("[[queues]]")
    text = text[:cut] + "\n".join(agents) + "\n" + text[cut:]
    open(out, "w", encoding="utf-8").write(text)


def _headers(msg):
    head = msg.split("\r\n\r\n", 1)[0].split("\r\n")
    return head[0], head[1:]


def register(sip, port, n):
    host, sport = sip.rsplit(":", 1)
    dest = (host, int(sport))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", int(port)))
    s.settimeout(5)
    callid = {}

    def send(ext, cseq, auth=None):
        cid = callid.setdefault(ext, f"bench-{ext}-{random.getrandbits(48):x}")
        lines = [
            f"REGISTER sip:{host}:{sport} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{random.getrandbits(64):x};rport",
            f"From: <sip:{ext}@{host}>;tag={ext}",
            f"To: <sip:{ext}@{host}>",
            f"Call-ID: {cid}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <sip:{ext}@127.0.0.1:{port}>",
            "Expires: 86400",
            "Max-Forwards: 70",
        ]
        if auth:
            lines.append("Authorization: " + auth)
        lines.append("Content-Length: 0")
        s.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), dest)

    exts = [str(2001 + i) for i in range(n)]
    done = set()
    batch = 200
    for start in range(0, n, batch):
        group = exts[start:start + batch]
        for ext in group:
            send(ext, 1)
        waiting = set(group)
        while waiting:
            data, _ = s.recvfrom(65535)
            msg = data.decode(errors="replace")
            status, hdrs = _headers(msg)
            get = lambda name: next((h.split(":", 1)[1].strip() for h in hdrs
                                     if h.lower().startswith(name.lower() + ":")), "")
            ext = get("From").split("sip:", 1)[1].split("@", 1)[0]
            code = status.split()[1]
            if code == "401":
                chal = [h.split(":", 1)[1].strip() for h in hdrs
                        if h.lower().startswith("www-authenticate:")]
                chal = next(c for c in chal if "MD5" in c.upper() and "SHA" not in c.upper())
                params = dict(
                    (k.strip(), v.strip().strip('"'))
                    for k, v in (p.split("=", 1) for p in chal[len("Digest "):].split(","))
                )
                uri = f"sip:{host}:{sport}"
                ha1 = hashlib.md5(f"{ext}:{REALM}:pass{ext}".encode()).hexdigest()
                ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
                cnonce = f"{random.getrandbits(32):x}"
                resp = hashlib.md5(
                    f"{ha1}:{params['nonce']}:00000001:{cnonce}:auth:{ha2}".encode()
                ).hexdigest()
                auth = (f'Digest username="{ext}", realm="{params["realm"]}", '
                        f'nonce="{params["nonce"]}", uri="{uri}", response="{resp}", '
                        f'algorithm=MD5, qop=auth, nc=00000001, cnonce="{cnonce}"')
                send(ext, 2, auth)
            elif code == "200":
                waiting.discard(ext)
                done.add(ext)
            elif code == "100":
                pass
            else:
                sys.exit(f"agent {ext}: {status}")
    print(f"registered {len(done)} agents from 127.0.0.1:{port}")


def _call(http, method, path, token=None, body=None):
    req = urllib.request.Request(f"http://{http}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def available(http, n):
    token = _call(http, "POST", "/api/v1/login", body={"user": "supervisor", "password": "supervisor"})["token"]
    for i in range(n):
        _call(http, "POST", f"/api/v1/agents/{2001 + i}/state", token, {"state": "available"})
    print(f"{n} agents available")


def _pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def report(db, since):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT interaction, kind, MIN(at_ns) FROM events WHERE stream = 'interaction' "
        "AND interaction IN (SELECT interaction FROM events WHERE kind = 'arrived' AND at_ns >= ?) "
        "GROUP BY interaction, kind", (int(since),)).fetchall()
    per = {}
    for iid, kind, at in rows:
        per.setdefault(iid, {})[kind] = at
    calls = len(per)
    answered = [t for t in per.values() if "answered" in t]
    ended = [t for t in per.values() if "ended" in t]
    rung = [(t["offered"] - t["arrived"]) / 1e6 for t in per.values() if "offered" in t]
    routed = [(t["offered"] - t["queued"]) / 1e6 for t in per.values()
              if "offered" in t and "queued" in t]
    talk = [(t["ended"] - t["arrived"]) / 1e9 for t in per.values() if "ended" in t]
    mean_call = sum(talk) / len(talk) if talk else 0
    starts = sorted(t["arrived"] for t in per.values() if "arrived" in t)
    span = (starts[-1] - starts[0]) / 1e9 if len(starts) > 1 else 0
    achieved = (len(starts) - 1) / span if span > 0 else 0
    print(json.dumps({
        "calls": calls, "answered": len(answered), "ended": len(ended),
        "arrivals_per_second": round(achieved, 1),
        "invite_to_rung_p50_ms": round(_pct(rung, 50), 1),
        "invite_to_rung_p99_ms": round(_pct(rung, 99), 1),
        "queued_to_rung_p50_ms": round(_pct(routed, 50), 2),
        "queued_to_rung_p99_ms": round(_pct(routed, 99), 2),
        "mean_call_seconds": round(mean_call, 2),
    }))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "config":
        config(int(args[0]), args[1])
    elif cmd == "register":
        register(args[0], args[1], int(args[2]))
    elif cmd == "available":
        available(args[0], int(args[1]))
    elif cmd == "report":
        report(args[0], args[1])
    else:
        sys.exit(__doc__)
