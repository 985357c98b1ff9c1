#!/usr/bin/env python3
"""Records, with millisecond timestamps, which pods carry the leader label: the chaos
checker's view of routing (what `kubectl get pods -w` shows, but machine-readable and
surviving apiserver outages).

    podwatch.py --server URL --ca CA --cert CRT --key KEY --namespace NS \
                --selector app=chaos --label leader-elector/leader=true --out FILE

Lists the pods, then watches from the list's resourceVersion. Whenever the connection
breaks or goes quiet for --idle seconds (the apiserver stopped, restarted, ...), it lists
again and goes on. One JSON line per change of a pod's labelled state:
  {"ts": ms, "pod": NAME, "labelled": true|false, "via": "list"|"watch"}
plus {"ts": ms, "event": "connected"|"disconnected", ...} lines. Runs until SIGTERM.
"""
import argparse
import http.client
import json
import os
import signal
import ssl
import sys
import time
import urllib.parse

running = True


def now_ms():
    return int(time.time() * 1000)


class Recorder:
    def __init__(self, out, key, value):
        self.f = open(out, "a", buffering=1)
        self.key, self.value = key, value
        self.state = {}  # pod -> labelled

    def emit(self, **kv):
        kv["ts"] = now_ms()
        self.f.write(json.dumps(kv) + "\n")

    def labelled(self, pod):
        return (pod.get("metadata", {}).get("labels") or {}).get(self.key) == self.value

    def set(self, name, labelled, via):
        if self.state.get(name) != labelled:
            self.state[name] = labelled
            self.emit(pod=name, labelled=labelled, via=via)

    def relist(self, items):
        seen = set()
        for p in items:
            name = p["metadata"]["name"]
            seen.add(name)
            self.set(name, self.labelled(p), "list")
        for name in list(self.state):
            if name not in seen:
                self.set(name, False, "list")


def connect(a, ctx, timeout):
    u = urllib.parse.urlparse(a.server)
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=timeout)


def run_once(a, ctx, rec):
    base = "/api/v1/namespaces/%s/pods?labelSelector=%s" % (a.namespace, urllib.parse.quote(a.selector))
    c = connect(a, ctx, 3)
    try:
        c.request("GET", base)
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise OSError("list: HTTP %d" % r.status)
        lst = json.loads(body)
        rec.relist(lst.get("items", []))
        rv = lst["metadata"]["resourceVersion"]
    finally:
        c.close()
    rec.emit(event="connected", resourceVersion=rv)
    # Reads time out after --idle seconds of silence: then we list again, which also
    # catches a watch that hangs on a frozen apiserver.
    c = connect(a, ctx, a.idle)
    try:
        c.request("GET", base + "&watch=1&allowWatchBookmarks=true&resourceVersion=" + rv)
        r = c.getresponse()
        if r.status != 200:
            raise OSError("watch: HTTP %d" % r.status)
        parent = os.getppid()
        while running and os.getppid() == parent:
            line = r.readline()
            if not line:
                return
            ev = json.loads(line)
            t, obj = ev.get("type"), ev.get("object", {})
            if t == "ERROR":
                return  # 410 Gone and friends: list again
            if t == "BOOKMARK":
                continue
            name = obj["metadata"]["name"]
            rec.set(name, False if t == "DELETED" else rec.labelled(obj), "watch")
    finally:
        c.close()


def main():
    global running
    ap = argparse.ArgumentParser()
    for k in ("server", "ca", "cert", "key", "namespace", "selector", "label", "out"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--max-seconds", type=float, default=7200)
    a = ap.parse_args()
    key, value = a.label.split("=", 1)
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    rec = Recorder(a.out, key, value)

    def stop(*_):
        global running
        running = False
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # Bounded even if the harness dies without stopping us: exit when orphaned or too old.
    parent, give_up = os.getppid(), time.time() + a.max_seconds
    try:
        while running and os.getppid() == parent and time.time() < give_up:
            try:
                run_once(a, ctx, rec)
            except KeyboardInterrupt:
                raise
            except TimeoutError:
                pass  # a quiet watch, or a frozen apiserver: list again
            except Exception as e:  # outage: note it, back off briefly, list again
                rec.emit(event="disconnected", error=str(e)[:200])
                time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    rec.emit(event="exit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
