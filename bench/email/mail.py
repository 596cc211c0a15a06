#!/usr/bin/env python3
"""Helpers of the e-mail benchmark (standard library only).

  mail.py config DEMO IMAP SUBMISSION OUT   the demo centre plus an e-mail queue and the
                                            mailbox service@bank.test on the test Dovecot
  mail.py users FIRST COUNT                 MAIL_USERS for start-mailserver.sh: the mailbox
                                            and customers c<FIRST>..c<FIRST+COUNT-1>@example.test
  mail.py deliver LMTP FIRST COUNT RATE OUT delivers COUNT customer e-mails into the
                                            mailbox through Dovecot's LMTP socket (one
                                            session), RATE a second (0: as fast as it
                                            takes them); writes "i delivered_ns" lines to OUT
  mail.py count DB                          e-mail interactions queued so far
  mail.py report DB DELIVERED               per message: delivered -> arrived and delivered
                                            -> queued (ms, p50/p99/max), first arrival to
                                            last queued, and the rate
"""
import json
import smtplib
import sqlite3
import sys
import time

BODY = (
    "Dear Sir or Madam,\r\n\r\n"
    "I was charged an annual fee on my credit card ending 4821 although I was told when I\r\n"
    "opened the account that the fee is waived in the first year. Could you please look\r\n"
    "into it and refund the fee? I have attached nothing; the statement date is the 3rd.\r\n\r\n"
    "Thank you,\r\n"
)


def message(i, run):
    return (
        f"From: Customer {i} <c{i}@example.test>\r\n"
        "To: Bank Service <service@bank.test>\r\n"
        f"Subject: Annual fee on my card ({i})\r\n"
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
        f"Message-ID: <bench-{run}-{i}@example.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n" + BODY + f"Customer {i}\r\n"
    ).encode()


def config(demo, imap, submission, out):
    text = open(demo, encoding="utf-8").read()
    text += f"""
[[queues]]
name = "email"
channel = "email"
skills = {{ general = 1 }}
target_seconds = 14400
service_level_percent = 80

[[mailboxes]]
address = "service@bank.test"
name = "Bank Service"
queue = "email"
imap = "127.0.0.1:{imap}"
smtp = "127.0.0.1:{submission}"
user = "service@bank.test"
password = "secret"
security = "plain"
"""
    open(out, "w", encoding="utf-8").write(text)


def users(first, count):
    print(" ".join(["service@bank.test:secret"] +
                   [f"c{i}@example.test:secret" for i in range(first, first + count)]))


def deliver(lmtp_path, first, count, rate, out):
    run = int(time.time())
    lines = []
    t0 = time.monotonic()
    with smtplib.LMTP(lmtp_path) as lmtp:
        for k, i in enumerate(range(first, first + count)):
            if rate > 0:
                due = t0 + k / rate
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
            lmtp.sendmail(f"c{i}@example.test", ["service@bank.test"], message(i, run))
            lines.append(f"{i} {time.time_ns()}")
    secs = time.monotonic() - t0
    open(out, "w").write("\n".join(lines) + "\n")
    print(json.dumps({"delivered": count, "seconds": round(secs, 2),
                      "per_second": round(count / secs, 1) if secs else None}))


def _rows(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    return con.execute(
        "SELECT i.from_addr, e.kind, MIN(e.at_ns) FROM events e JOIN interactions i "
        "ON e.interaction = i.id WHERE i.channel = 'email' AND e.kind IN ('arrived', 'queued') "
        "GROUP BY i.id, e.kind").fetchall()


def count(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        n = con.execute("SELECT COUNT(DISTINCT e.interaction) FROM events e "
                        "JOIN interactions i ON e.interaction = i.id "
                        "WHERE i.channel = 'email' AND e.kind = 'queued'").fetchone()[0]
    except sqlite3.Error:
        n = 0
    print(n)


def _pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[max(0, min(len(xs) - 1, -(-len(xs) * p // 100) - 1))], 1)


def report(db, delivered):
    sent = {}
    for line in open(delivered):
        i, t = line.split()
        sent[f"c{i}@example.test"] = int(t)
    at = {}
    for addr, kind, t in _rows(db):
        if addr in sent:
            at.setdefault(addr, {})[kind] = t
    queued = [a for a in sent if "queued" in at.get(a, {})]
    arr = [(at[a]["arrived"] - sent[a]) / 1e6 for a in queued if "arrived" in at[a]]
    q = [(at[a]["queued"] - sent[a]) / 1e6 for a in queued]
    first = min((at[a]["arrived"] for a in queued if "arrived" in at[a]), default=0)
    last = max((at[a]["queued"] for a in queued), default=0)
    span = (last - first) / 1e9
    print(json.dumps({
        "messages": len(sent), "queued": len(queued),
        "first_arrived_to_last_queued_s": round(span, 2),
        "per_minute": round(60 * (len(queued) - 1) / span) if span > 0 else None,
        "delivered_to_arrived_ms": {"p50": _pct(arr, 50), "p99": _pct(arr, 99), "max": _pct(arr, 100)},
        "delivered_to_queued_ms": {"p50": _pct(q, 50), "p99": _pct(q, 99), "max": _pct(q, 100)},
        "first_arrived_ns": first, "last_queued_ns": last,
    }))


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "config":
        config(a[0], a[1], a[2], a[3])
    elif cmd == "users":
        users(int(a[0]), int(a[1]))
    elif cmd == "deliver":
        deliver(a[0], int(a[1]), int(a[2]), float(a[3]), a[4])
    elif cmd == "count":
        count(a[0])
    elif cmd == "report":
        report(a[0], a[1])
    else:
        sys.exit(__doc__)
