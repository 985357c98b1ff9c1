#!/usr/bin/env python3
"""Self-test of check_intervals.py on synthetic records: it must FAIL on two leaders, on a
kill -9'd leader whose renew deadline had not yet passed, on long label overlaps and on an
empty record, and PASS on clean handovers (also with a faked clock). run.sh runs it first:
a checker that cannot fail would make every campaign pass."""
import contextlib
import datetime
import io
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_intervals  # noqa: E402

T0 = 1_800_000_000_000  # ms
RD = 4000


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def record(d, procs, events=(), pods=()):
    """procs: {proc: (offset_ms, [(t, msg, extra)], end_event or None, end_t)}"""
    ev = []
    for proc, (offset, lines, end_event, end_t) in procs.items():
        log = proc.replace("#", ".") + ".log"
        ev.append({"event": "start", "proc": proc, "identity": proc.split("#")[0], "log": log,
                   "clock_offset_ms": offset, "ts": lines[0][0] - 10 if lines else T0})
        with open(os.path.join(d, log), "w") as f:
            f.write("some non-JSON start-up noise\n")
            for t, msg, extra in lines:
                f.write(json.dumps(dict({"ts": iso(t + offset), "msg": msg}, **extra)) + "\n")
        if end_event:
            ev.append({"event": end_event, "proc": proc, "ts": end_t})
    ev += list(events)
    with open(os.path.join(d, "events.jsonl"), "w") as f:
        for e in sorted(ev, key=lambda e: e["ts"]):
            f.write(json.dumps(e) + "\n")
    with open(os.path.join(d, "pods.jsonl"), "w") as f:
        for p in pods:
            f.write(json.dumps(p) + "\n")


def acq(t):
    return (t, "leadership acquired", {})


def lost(t, why="stopping"):
    return (t, "leadership lost", {"why": why})


def ren(t):
    return (t, "lease renewed", {})


def pod(t, name, on):
    return {"ts": t, "pod": name, "labelled": on, "via": "watch"}


CLEAN_PODS = [pod(T0 + 100, "p-0", True), pod(T0 + 5000, "p-0", False), pod(T0 + 5100, "p-1", True)]

CASES = [
    ("clean SIGTERM handover", 0, {
        "p-0#1": (0, [acq(T0), ren(T0 + 1000), lost(T0 + 5000)], "exited", T0 + 5200),
        "p-1#1": (0, [acq(T0 + 5050), lost(T0 + 9000)], "exited", T0 + 9100)}, CLEAN_PODS),
    ("two leaders at once", 1, {
        "p-0#1": (0, [acq(T0), lost(T0 + 5000)], "exited", T0 + 5200),
        "p-1#1": (0, [acq(T0 + 4000), lost(T0 + 9000)], "exited", T0 + 9100)}, CLEAN_PODS),
    ("kill -9: taken over after the renew deadline", 0, {
        "p-0#1": (0, [acq(T0), ren(T0 + 1000), ren(T0 + 2000)], "kill9", T0 + 9000),
        "p-1#1": (0, [acq(T0 + 2000 + RD + 1), lost(T0 + 12000)], "exited", T0 + 12100)}, CLEAN_PODS),
    ("kill -9: taken over before the renew deadline", 1, {
        "p-0#1": (0, [acq(T0), ren(T0 + 1000), ren(T0 + 2000)], "kill9", T0 + 9000),
        "p-1#1": (0, [acq(T0 + 2000 + RD - 500), lost(T0 + 12000)], "exited", T0 + 12100)}, CLEAN_PODS),
    ("restarted process of the same pod overlaps its predecessor", 1, {
        "p-0#1": (0, [acq(T0), ren(T0 + 1000)], "kill9", T0 + 3000),
        "p-0#2": (0, [acq(T0 + 2000), lost(T0 + 8000)], "exited", T0 + 8100)}, CLEAN_PODS),
    ("exited while leading without logging the loss", 1, {
        "p-0#1": (0, [acq(T0), ren(T0 + 1000)], "exited", T0 + 3000)}, CLEAN_PODS),
    ("faked clock (+5h) corrected, clean", 0, {
        "p-0#1": (18_000_000, [acq(T0), lost(T0 + 5000)], "exited", T0 + 5200),
        "p-1#1": (0, [acq(T0 + 5050), lost(T0 + 9000)], "exited", T0 + 9100)}, CLEAN_PODS),
    ("label on two pods for 3 s", 1, {
        "p-0#1": (0, [acq(T0), lost(T0 + 5000)], "exited", T0 + 5200)},
     [pod(T0 + 100, "p-0", True), pod(T0 + 1000, "p-1", True), pod(T0 + 4000, "p-0", False)]),
    ("label on two pods for 300 ms (within one round trip)", 0, {
        "p-0#1": (0, [acq(T0), lost(T0 + 5000)], "exited", T0 + 5200)},
     [pod(T0 + 100, "p-0", True), pod(T0 + 1000, "p-1", True), pod(T0 + 1300, "p-0", False)]),
    ("nothing recorded", 1, {}, []),
]


def main():
    failures = 0
    for name, want, procs, pods in CASES:
        with tempfile.TemporaryDirectory() as d:
            record(d, procs, pods=pods)
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                got = check_intervals.main([d, "--renew-deadline-ms", str(RD), "--label-overlap-ms", "2000"])
        ok = got == want
        failures += not ok
        print("  %s: %s -> %s (expected %s)" % ("ok" if ok else "WRONG", name, ["PASS", "FAIL"][got], ["PASS", "FAIL"][want]))
        if not ok:
            print(buf.getvalue())
    print("check_intervals self-test: %d of %d cases right" % (len(CASES) - failures, len(CASES)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
