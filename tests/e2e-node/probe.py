#!/usr/bin/env python3
"""Traffic and invariant probes for real_node.sh; run inside the node namespace.

  probe.py client <url> <out.jsonl>
      GET <url> every 20 ms, each on a new connection (so every request goes through the
      Service's load balancing), 1 s timeout. One JSON line per request:
      {"t": epoch ms at send, "ok": bool, "id": responder identity, "leader": isLeader, "err": ...}
  probe.py monitor <apiserver> <ca> <cert> <key> <namespace> <selector> <label> <out.jsonl>
      Watches the pods (selector) and polls every Running pod's /leader every 50 ms. Writes a
      line whenever the set of labelled pods or of believers changes, and flags a line
      "violation" when two non-terminating pods carry <label>, or when a pod answered
      isLeader=true to a poll sent after another pod had acquired the Lease (see check()).
  probe.py since <client.jsonl> <t0 ms> <old leader>   /   probe.py tally|gaps <client.jsonl> <from> <to>
      Reading the client's log: see the functions.
  probe.py leasegaps <holders.log> <first line>
      Reading a Lease watch's "<holder>|<acquireTime>" lines: the release-to-acquisition gaps.
  probe.py breakdown <holders.log> <first line> <monitor.jsonl> <client.jsonl> <to ms>
      One handover's Service gap, step by step (see the function).
Stops on SIGTERM. Standard library only.
"""
import datetime
import http.client
import json
import signal
import ssl
import sys
import threading
import time
import urllib.parse

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())


def now_ms():
    return time.time() * 1000.0


def epoch_ms(rfc3339):
    """"2026-12-02T07:58:59.434060Z" -> epoch ms; None if absent or unreadable."""
    try:
        return datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp() * 1000.0
    except (TypeError, ValueError):
        return None


def get_leader(host, port, path="/leader", timeout=1.0):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError("HTTP %d" % r.status)
        return json.loads(body)
    finally:
        c.close()


def client(url, out):
    u = urllib.parse.urlsplit(url)
    with open(out, "a", buffering=1) as f:
        while not stop.is_set():
            t = now_ms()
            rec = {"t": round(t, 1)}
            try:
                d = get_leader(u.hostname, u.port or 80, u.path)
                rec.update(ok=True, id=d.get("identity"), leader=bool(d.get("isLeader")), holder=d.get("holder"))
            except Exception as e:  # noqa: BLE001 - every failure is one failed request
                rec.update(ok=False, err=type(e).__name__ + ": " + str(e)[:80])
            f.write(json.dumps(rec) + "\n")
            left = 0.020 - (now_ms() - t) / 1000.0
            if left > 0:
                stop.wait(left)


class Monitor:
    def __init__(self, api, ca, cert, key, ns, selector, label, out):
        self.api = urllib.parse.urlsplit(api)
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)
        self.ns, self.selector, self.out = ns, selector, open(out, "a", buffering=1)
        self.label_key, self.label_value = label.split("=", 1)
        self.lock = threading.Lock()
        self.pods = {}      # name -> {"ip", "labelled", "terminating"}
        self.belief = {}    # name -> (time ms, isLeader)
        self.pollers = {}
        self.last = None

    def emit(self, **kw):
        kw["t"] = round(now_ms(), 1)
        self.out.write(json.dumps(kw) + "\n")

    def api_get(self, path, timeout):
        c = http.client.HTTPSConnection(self.api.hostname, self.api.port, context=self.ctx, timeout=timeout)
        c.request("GET", path)
        return c, c.getresponse()

    def pod_path(self, extra=""):
        q = urllib.parse.urlencode({"labelSelector": self.selector})
        return "/api/v1/namespaces/%s/pods?%s%s" % (self.ns, q, extra)

    def apply(self, kind, pod):
        name = pod["metadata"]["name"]
        with self.lock:
            if kind == "DELETED":
                self.pods.pop(name, None)
                self.belief.pop(name, None)
            else:
                labels = pod["metadata"].get("labels") or {}
                self.pods[name] = {
                    "ip": pod.get("status", {}).get("podIP"),
                    "labelled": labels.get(self.label_key) == self.label_value,
                    "terminating": "deletionTimestamp" in pod["metadata"],
                }
        self.check()

    def watch(self):
        while not stop.is_set():
            try:
                c, r = self.api_get(self.pod_path(), 10)
                lst = json.loads(r.read())
                c.close()
                with self.lock:
                    self.pods.clear()
                for p in lst["items"]:
                    self.apply("ADDED", p)
                rv = lst["metadata"]["resourceVersion"]
                c, r = self.api_get(self.pod_path("&watch=1&resourceVersion=" + rv), 3600)
                while not stop.is_set():
                    # r.readline(), not r.fp.readline(): the watch is chunked, and only the
                    # response object strips the chunk-size lines.
                    line = r.readline()
                    if not line:
                        break
                    ev = json.loads(line)
                    if ev.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        self.apply(ev["type"], ev["object"])
                c.close()
            except Exception as e:  # noqa: BLE001 - reconnect on any watch failure
                self.emit(event="watch-error", err=str(e)[:100])
                stop.wait(0.5)

    def poll(self, name):
        while not stop.is_set():
            with self.lock:
                p = self.pods.get(name)
            if p is None:
                return
            if p["ip"]:
                try:
                    sent = now_ms()
                    d = get_leader(p["ip"], 8080, timeout=0.3)
                    with self.lock:
                        self.belief[name] = (sent, bool(d.get("isLeader")), epoch_ms(d.get("acquireTime")))
                    self.check()
                except Exception:  # noqa: BLE001 - a stopped or dead pod just has no fresh belief
                    pass
            stop.wait(0.05)

    def check(self):
        with self.lock:
            t = now_ms()
            labelled = sorted(n for n, p in self.pods.items() if p["labelled"] and not p["terminating"])
            labelled_all = sorted(n for n, p in self.pods.items() if p["labelled"])
            recent = {n: b for n, b in self.belief.items() if b[1] and t - b[0] < 300}
            believers = sorted(recent)
            state = (tuple(labelled), tuple(labelled_all), tuple(believers))
            if state == self.last:
                return
            self.last = state
            self.emit(labelled=labelled, labelled_incl_terminating=labelled_all, believers=believers,
                      violation=len(labelled) > 1 or self.overlap(recent))

    @staticmethod
    def overlap(recent):
        """Two recent believers are only a violation if their beliefs really overlapped.
        A graceful handover takes milliseconds, so an old leader's last "yes" and the new
        leader's first one often land within one polling window, one after the other. Pods
        and this monitor share the host's clock, and a leader steps down before its release
        is written, which comes before the successor sees it and stamps its acquireTime. So
        a pod that said "yes" to a poll sent after another believer's acquireTime believed
        at the same time as that one."""
        if len(recent) < 2:
            return False
        newest = max((b[2] for b in recent.values() if b[2] is not None), default=None)
        if newest is None:
            return True  # no acquireTime to order them by: count it, never hide it
        return any(sent > newest for sent, _, acq in recent.values() if acq is None or acq < newest)

    def run(self):
        threading.Thread(target=self.watch, daemon=True).start()
        while not stop.is_set():
            with self.lock:
                names = [n for n in self.pods if n not in self.pollers or not self.pollers[n].is_alive()]
            for n in names:
                th = threading.Thread(target=self.poll, args=(n,), daemon=True)
                self.pollers[n] = th
                th.start()
            self.check()
            stop.wait(0.1)


def since(out, t0, old, restarted_ok=False):
    """Prints "<ms to new leader> <failed> <non-leader>" once the client log holds an answer
    from a leader other than <old> sent at or after <t0>; exit 1 if there is none yet.
    restarted_ok: after kill -9 the container restarts in the same pod (same identity) and may
    win the expired Lease itself: a leader answer from <old> after a failed request counts."""
    failed = nonleader = 0
    with open(out) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue  # a line being written
            if r["t"] < t0:
                continue
            if not r["ok"]:
                failed += 1
            elif not r["leader"]:
                nonleader += 1
            elif r["id"] != old or (restarted_ok and failed > 0):
                print("%d %d %d" % (round(r["t"] - t0), failed, nonleader))
                return 0
    return 1


def scan(out, t_from, t_to):
    """(requests, failed, non-leader, no-leader ms) for requests sent in [t_from, t_to).
    No-leader time: for each run of requests that failed or reached a non-leader, from the
    first of them to the next request a leader answered (or t_to)."""
    n = failed = nonleader = 0
    gap_ms = 0.0
    bad_since = None
    with open(out) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue  # a line being written
            if not t_from <= r["t"] < t_to:
                continue
            n += 1
            good = r["ok"] and r["leader"]
            failed += not r["ok"]
            nonleader += r["ok"] and not r["leader"]
            if not good and bad_since is None:
                bad_since = r["t"]
            elif good and bad_since is not None:
                gap_ms += r["t"] - bad_since
                bad_since = None
    if bad_since is not None:
        gap_ms += t_to - bad_since
    return n, failed, nonleader, round(gap_ms)


def tally(out, t_from, t_to):
    """Prints "<requests> <failed> <non-leader>"."""
    print("%d %d %d" % scan(out, t_from, t_to)[:3])
    return 0


def gaps(out, t_from, t_to):
    """Prints "<requests> <failed> <non-leader> <no-leader ms>"."""
    print("%d %d %d %d" % scan(out, t_from, t_to))
    return 0


def handovers(holders_log, first_line):
    """Each release in <holders_log> from line <first_line> (1-based) on, as (release ms, next
    acquisition ms, next holder): a release writes holder "" and acquireTime = the moment of
    release (the leader stops believing before it writes it); the next holder's acquireTime is
    its acquisition. Lines are "<holder>|<acquireTime>" as the rollout's Lease watch writes
    them. A term that ended without a release (a crash, an expiry) is not a handover."""
    released_at = None
    with open(holders_log) as f:
        for i, line in enumerate(f, 1):
            holder, _, acquired = line.rstrip("\n").partition("|")
            t = epoch_ms(acquired)
            if i < first_line or t is None:
                continue
            if holder == "":
                released_at = t
            elif released_at is not None:
                yield released_at, t, holder
                released_at = None


def lease_gaps(holders_log, first_line):
    """The Lease-level gap of each handover (see handovers()). Prints
    "<releases> <total gap ms> <largest gap ms>"."""
    gaps = [acq - rel for rel, acq, _ in handovers(holders_log, first_line)]
    print("%d %d %d" % (len(gaps), round(sum(gaps)), round(max(gaps, default=0))))
    return 0


def breakdown(holders_log, first_line, monitor, client_log, t_to):
    """Where one handover's Service gap goes, for the first release in <holders_log> from line
    <first_line> on: release -> the next acquisition (Lease acquireTimes) -> the new holder
    labelled (the monitor's pod watch, stamped on receipt) -> the first answer from it through
    the Service (the EndpointSlice controller and kube-proxy following the label). Prints
    "<lease ms> <label ms> <routing ms>", each from the step before, "-" if unseen."""
    rel, acq, holder = next(handovers(holders_log, first_line), (None, None, None))
    steps = [rel, acq, None, None]
    if holder is not None:
        for line in open(monitor):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if "labelled" in r and r["t"] >= acq and holder in r["labelled"]:
                steps[2] = r["t"]
                break
        for line in open(client_log):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if acq <= r["t"] < t_to and r["ok"] and r["leader"] and r["id"] == holder:
                steps[3] = r["t"]
                break
    out = []
    for a, b in zip(steps, steps[1:]):
        out.append("-" if a is None or b is None else str(round(b - a)))
    print(" ".join(out))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "since":
        sys.exit(since(sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5:] == ["restarted-ok"]))
    elif sys.argv[1] == "tally":
        sys.exit(tally(sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
    elif sys.argv[1] == "gaps":
        sys.exit(gaps(sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
    elif sys.argv[1] == "breakdown":
        sys.exit(breakdown(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6])))
    elif sys.argv[1] == "leasegaps":
        sys.exit(lease_gaps(sys.argv[2], int(sys.argv[3])))
    elif sys.argv[1] == "monitor":
        Monitor(*sys.argv[2:10]).run()
    else:
        sys.exit("usage: probe.py client|monitor ...")
