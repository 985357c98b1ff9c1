#!/usr/bin/env python3
"""Safety checker of the chaos campaigns: were there ever two leaders?

    check_intervals.py RUN_DIR --renew-deadline-ms 4000 [--slack-ms 0] [--label-overlap-ms 2000]

RUN_DIR holds what a campaign recorded:
  events.jsonl   the harness's own record, ms timestamps on this host's clock:
                 {"event":"start","proc":P,"identity":I,"log":FILE,"clock_offset_ms":O}
                 {"event":"kill9"|"sigterm"|"exited","proc":P}, {"event":"fault",...} (shown only)
  <FILE>         one leader-elector process's stderr (JSON lines with "ts" and "msg")
  pods.jsonl     podwatch.py's record of which pods carried the leader label

Leadership intervals, one list per process (a restarted replica is a new process: two
processes with the same identity must not overlap either):
  - opened by "leadership acquired", closed by "leadership lost" (the elector logs the loss
    at the moment it stops believing: the watchdog at its renew deadline, on a changed
    holder, and on stop *before* the release is written);
  - a process killed with -9 while leading is counted as leader until
        min(kill time, last successful renewal + renew deadline)
    where the last renewal is the latest "lease renewed" (debug) or "leadership acquired"
    line. Those lines are written after the write returned, later than the send time the
    elector measures its deadline from, so this end is never earlier than the real one;
  - a process that exited while leading without logging the loss is a violation;
  - a process still running at the end is leader until the end of the record.
Log timestamps are wall-clock; a process whose clock was faked is corrected by its
clock_offset_ms (and the offset is verified against its start time).

Verdict: FAIL if two processes' intervals overlap by more than --slack-ms (0: the lease model
on one host, where all monotonic clocks run at the same rate, allows no overlap: the old
leader stops at renew deadline < lease duration, before any follower may take over), or if
two pods carried the leader label at once for longer than --label-overlap-ms (one reconcile
round trip), or if there is nothing to check.
"""
import argparse
import datetime
import json
import os
import sys


def iso_ms(s):
    d = datetime.datetime.strptime(s.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)


def read_jsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


class Interval:
    def __init__(self, proc, start, end, rule):
        self.proc, self.start, self.end, self.rule = proc, start, end, rule


def elector_intervals(run_dir, events, rd_ms, end_ms, problems):
    procs = {}
    for e in events:
        p = e.get("proc")
        if not p:
            continue
        d = procs.setdefault(p, {})
        if e["event"] == "start":
            d.update(start=e["ts"], log=e["log"], offset=e.get("clock_offset_ms", 0))
        elif e["event"] in ("kill9", "sigterm", "exited"):
            d.setdefault(e["event"], e["ts"])
    intervals = []
    for proc, d in sorted(procs.items(), key=lambda kv: kv[1].get("start", 0)):
        if "log" not in d:
            problems.append("%s: no start event" % proc)
            continue
        lines = [l for l in read_jsonl(os.path.join(run_dir, d["log"])) if "ts" in l and "msg" in l]
        if not lines:
            problems.append("%s: empty log %s" % (proc, d["log"]))
            continue
        first = iso_ms(lines[0]["ts"]) - d["offset"]
        if not (d["start"] - 2000 <= first <= d["start"] + 60000):
            problems.append("%s: first log line at %d ms but started at %d ms: clock offset %d ms is wrong"
                            % (proc, first, d["start"], d["offset"]))
        open_at, last_renew = None, None
        for l in lines:
            t = iso_ms(l["ts"]) - d["offset"]
            msg = l["msg"]
            if msg == "leadership acquired":
                if open_at is not None:
                    problems.append("%s: acquired twice without a loss in between" % proc)
                else:
                    open_at = t
                last_renew = t
            elif msg == "lease renewed":
                last_renew = t
            elif msg == "leadership lost":
                if open_at is None:
                    problems.append("%s: lost leadership it did not hold" % proc)
                else:
                    intervals.append(Interval(proc, open_at, t, "logged loss: " + l.get("why", "?")))
                    open_at = None
        if open_at is None:
            continue
        if "kill9" in d:
            end = min(d["kill9"], last_renew + rd_ms)
            rule = "kill -9 (min of kill, last renewal + renew deadline)"
        elif "exited" in d:
            end = d["exited"]
            problems.append("%s: exited while leading without logging the loss" % proc)
            rule = "exited without a logged loss"
        else:
            end = end_ms
            rule = "still leading at the end of the record"
        intervals.append(Interval(proc, open_at, end, rule))
    return intervals, procs


def overlaps(intervals, slack_ms):
    bad, worst = [], None
    iv = sorted(intervals, key=lambda i: i.start)
    for i, a in enumerate(iv):
        for b in iv[i + 1:]:
            if b.start >= a.end:
                break  # sorted by start: no later interval can overlap a either
            if a.proc == b.proc:
                continue
            ov = min(a.end, b.end) - b.start
            worst = ov if worst is None else max(worst, ov)
            if ov > slack_ms:
                bad.append((a, b, ov))
    return bad, worst


def handover_gaps(intervals):
    iv = sorted(intervals, key=lambda i: i.start)
    return [b.start - a.end for a, b in zip(iv, iv[1:])]


def label_periods(pod_events):
    """Periods [from, to) during which two or more pods carried the label."""
    state, periods, since = {}, [], None
    recs = sorted((e for e in pod_events if "pod" in e), key=lambda e: e["ts"])
    for e in recs:
        state[e["pod"]] = e["labelled"]
        n = sum(1 for v in state.values() if v)
        if n >= 2 and since is None:
            since = (e["ts"], sorted(p for p, v in state.items() if v))
        elif n < 2 and since is not None:
            periods.append((since[0], e["ts"], since[1]))
            since = None
    if since is not None:
        end = max((e["ts"] for e in pod_events), default=since[0])
        periods.append((since[0], end, since[1]))
    return periods, recs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--renew-deadline-ms", type=int, required=True)
    ap.add_argument("--slack-ms", type=int, default=0)
    ap.add_argument("--label-overlap-ms", type=int, default=2000)
    ap.add_argument("--no-labels", action="store_true", help="the campaign ran without pod labels")
    ap.add_argument("--quiet", action="store_true", help="print at most 40 intervals")
    a = ap.parse_args(argv)
    events = read_jsonl(os.path.join(a.run_dir, "events.jsonl"))
    pods = read_jsonl(os.path.join(a.run_dir, "pods.jsonl"))
    problems = []
    if not events:
        problems.append("no events.jsonl in %s: nothing was recorded" % a.run_dir)
    t0 = min((e["ts"] for e in events), default=0)
    end_ms = max([e["ts"] for e in events] + [e["ts"] for e in pods if "ts" in e] + [t0])
    intervals, procs = elector_intervals(a.run_dir, events, a.renew_deadline_ms, end_ms, problems)
    if not intervals:
        problems.append("no leadership interval at all: the campaign proved nothing")

    def rel(t):
        return "%9.3f" % ((t - t0) / 1000.0)

    iv = sorted(intervals, key=lambda i: i.start)
    print("leadership intervals (s from the first event; %d processes, %d intervals):" % (len(procs), len(iv)))
    shown = iv if not a.quiet or len(iv) <= 40 else iv[:20] + iv[-20:]
    for i in shown:
        if a.quiet and len(iv) > 40 and i is iv[-20]:
            print("   ... %d more ..." % (len(iv) - 40))
        print("  %-14s %s .. %s  (%6d ms)  end: %s" % (i.proc, rel(i.start), rel(i.end), i.end - i.start, i.rule))
    for e in events:
        if e["event"] == "fault" and (not a.quiet or len(iv) <= 40):
            print("  fault    %s  %s" % (rel(e["ts"]), e.get("what", "")))
    bad, worst = overlaps(intervals, a.slack_ms)
    for x, y, ov in bad:
        problems.append("TWO LEADERS: %s [%s..%s] and %s [%s..%s] overlap by %d ms (allowed %d ms)"
                        % (x.proc, rel(x.start), rel(x.end), y.proc, rel(y.start), rel(y.end), ov, a.slack_ms))
    gaps = sorted(handover_gaps(intervals))
    if gaps:
        print("handover gaps (next acquired - previous lost): min %d ms, median %d ms, max %d ms over %d handovers"
              % (gaps[0], gaps[len(gaps) // 2], gaps[-1], len(gaps)))
    print("largest overlap between two processes: %s" % ("none" if worst is None else "%d ms" % worst))

    if not a.no_labels:
        periods, recs = label_periods(pods)
        if not recs:
            problems.append("no pod label record (pods.jsonl): the label check cannot run")
        elif not any(e["labelled"] for e in recs):
            problems.append("no pod ever carried the leader label: the label check proved nothing")
        longest = max((b - s for s, b, _ in periods), default=0)
        print("pod label: %d changes recorded; %d periods with two labelled pods, longest %d ms (allowed %d ms)"
              % (len(recs), len(periods), longest, a.label_overlap_ms))
        for s, b, who in periods:
            line = "  two labelled pods %s .. %s (%d ms): %s" % (rel(s), rel(b), b - s, " ".join(who))
            print(line)
            if b - s > a.label_overlap_ms:
                problems.append("TWO LABELLED PODS for %d ms > %d ms: %s" % (b - s, a.label_overlap_ms, " ".join(who)))

    for p in problems:
        print("  problem: " + p)
    print("check_intervals verdict: %s" % ("FAIL" if problems else "PASS"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
