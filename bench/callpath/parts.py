#!/usr/bin/env python3
"""Splits a CPU profile of hotline into the parts of a call.

    perf record -F 499 --call-graph dwarf,16384 -p PID -- sleep 20
    perf script -F comm,tid,ip,sym,dso | python3 bench/callpath/parts.py [calls]

Each sample goes to the part of the innermost frame, from the leaf up, that belongs to one
of hotline's parts, so time in the kernel (a send, a file write, a futex wake-up) counts
for the part that asked for it. A sample with no such frame goes by its thread: a media
thread's to the media relay, the recording writer's to recording, SQLite's workers' to the
event log, the rest to "runtime and other". With the number of calls in the window it also
prints milliseconds of CPU per call (samples x the sampling period / calls).
"""
import collections
import re
import sys

# (part, pattern on the frame's symbol or object), most specific first.
PARTS = [
    ("recording", r"hotline_media::(recorder|mixer)|RecordingWriter"),
    ("flow and DTMF detection", r"hotline_flow|hotline_media::(inband|dtmf|analysis|amd|player)"),
    ("routing (ACD)", r"hotline_acd"),
    ("event log", r"hotline_store|sqlx|sqlite3|libsqlite"),
    ("SIP", r"rsipstack|hotline_sip"),
    ("media relay", r"hotline_media|str0m"),
    ("call control", r"hotline_switch"),
    ("API and wallboards", r"hotline_api|axum|hyper"),
]
THREADS = [
    ("media relay", r"^hotline-media"),
    ("recording", r"^hotline-record"),
    ("event log", r"^sqlx-sqlite"),
]
COMPILED = [(p, re.compile(r)) for p, r in PARTS]


def classify(comm, frames):
    for f in frames:
        for part, rx in COMPILED:
            if rx.search(f):
                return part
    for part, rx in THREADS:
        if re.search(rx, comm):
            return part
    return "runtime and other"


def main():
    calls = float(sys.argv[1]) if len(sys.argv) > 1 else 0
    period_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 1000 / 499
    counts = collections.Counter()
    kernel = collections.Counter()
    comm, frames, in_kernel = None, [], False

    def flush():
        if comm is not None:
            part = classify(comm, frames)
            counts[part] += 1
            if in_kernel:
                kernel[part] += 1

    for line in sys.stdin:
        if not line.strip():
            flush()
            comm, frames, in_kernel = None, [], False
            continue
        if not line.startswith((" ", "\t")):
            flush()
            comm, frames, in_kernel = line.split()[0], [], False
            continue
        frames.append(line.strip())
        if len(frames) == 1 and "kernel" in line:
            in_kernel = True
    flush()
    total = sum(counts.values()) or 1
    print(f"{total} samples")
    for part, n in counts.most_common():
        share = 100 * n / total
        line = f"{part:26s} {share:5.1f} %  (in the kernel {100 * kernel[part] / max(n, 1):3.0f} %)"
        if calls:
            line += f"  {n * period_ms / calls:.3f} ms per call"
        print(line)
    if calls:
        print(f"{'all':26s} 100.0 %  {total * period_ms / calls:.3f} ms per call")


if __name__ == "__main__":
    main()
