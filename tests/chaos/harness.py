"""Process and fault plumbing for the chaos campaigns (tests/chaos/campaigns.py).

Everything here is bounded: every wait has a deadline, every process we start is tracked
and stopped by PID (never by name), and a frozen apiserver is always thawed on the way out.
"""
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def now_ms():
    return int(time.time() * 1000)


class Failed(Exception):
    """A campaign assertion failed."""


def load_env(cluster_dir):
    env_file = os.path.join(cluster_dir, "env")
    if not os.path.exists(env_file):
        raise SystemExit("chaos: no %s: is the cluster up (tests/cluster/up)?" % env_file)
    env = {}
    for line in open(env_file):
        m = re.match(r"export (\w+)=(.*)$", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
    return env


class Timings:
    """The election timings every campaign uses (the e2e suite's, sized for a busy 2-core box)."""

    def __init__(self):
        g = os.environ.get
        self.lease_s = int(g("CHAOS_LEASE_DURATION_S", "6"))
        self.renew_deadline_ms = int(g("CHAOS_RENEW_DEADLINE_MS", "4000"))
        self.retry_ms = int(g("CHAOS_RETRY_PERIOD_MS", "1000"))
        self.request_timeout_ms = int(g("CHAOS_REQUEST_TIMEOUT_MS", "2000"))
        self.reconcile_ms = int(g("CHAOS_RECONCILE_INTERVAL_MS", "5000"))

    @property
    def lease_ms(self):
        return self.lease_s * 1000

    def flags(self):
        return ["--lease-duration", "%ds" % self.lease_s, "--renew-deadline", "%dms" % self.renew_deadline_ms,
                "--retry-period", "%dms" % self.retry_ms, "--request-timeout", "%dms" % self.request_timeout_ms,
                "--reconcile-interval", "%dms" % self.reconcile_ms]

    def describe(self):
        return "lease %ds, renew deadline %dms, retry %dms, request timeout %dms" % (
            self.lease_s, self.renew_deadline_ms, self.retry_ms, self.request_timeout_ms)


class Cluster:
    def __init__(self, cluster_dir, kle_bin):
        self.dir = cluster_dir
        self.env = load_env(cluster_dir)
        self.bin = kle_bin
        self.ns = self.env["KLE_NAMESPACE"]
        self.lease = self.env["KLE_LEASE"]
        self.server = self.env["KLE_SERVER"]
        self.ca = self.env["KLE_CA_FILE"]
        self.kubectl_bin = self.env["KLE_KUBECTL"]
        self.admin_kc = self.env["KLE_ADMIN_KUBECONFIG"]
        self.restricted_kc = self.env["KLE_RESTRICTED_KUBECONFIG"]
        self.sa = open(os.path.join(cluster_dir, "restricted-serviceaccount")).read().strip()
        self.admin_cert = os.path.join(cluster_dir, "pki", "admin.crt")
        self.admin_key = os.path.join(cluster_dir, "pki", "admin.key")
        self.apiserver = Apiserver(self)
        self._proxy_cert = None

    def proxy_cert(self):
        """A serving certificate for 127.0.0.1 signed by the cluster's CA (made once), so a
        TLS-terminating proxy is trusted by the same kubeconfig as the apiserver."""
        if self._proxy_cert is None:
            d = os.path.join(self.dir, "pki")
            crt, key, csr = (os.path.join(d, "chaos-proxy." + x) for x in ("crt", "key", "csr"))
            ext = os.path.join(d, "chaos-proxy.ext")
            with open(ext, "w") as f:
                f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
            for cmd in (["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                         "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=chaos-proxy"],
                        ["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.crt"), "-CAkey",
                         os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt]):
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    raise Failed("openssl for the proxy certificate: %s" % r.stderr.strip()[:300])
            self._proxy_cert = (crt, key)
        return self._proxy_cert

    def kubectl(self, *args, check=True, timeout=30, kubeconfig=None, input=None):
        cmd = [self.kubectl_bin, "--kubeconfig", kubeconfig or self.admin_kc, "-n", self.ns, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise Failed("kubectl %s: %s" % (" ".join(args), (r.stderr or r.stdout).strip()[:300]))
        return r

    def kubeconfig(self, path, server=None, token=None, token_file=None):
        """A kubeconfig for the chart's service account, pointing at `server` (a proxy)."""
        user = ("    tokenFile: %s" % token_file) if token_file else ("    token: %s" % token)
        with open(path, "w") as f:
            f.write("""apiVersion: v1
kind: Config
clusters:
- name: kle
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
%s
contexts:
- name: chaos
  context: {cluster: kle, user: %s}
current-context: chaos
""" % (server or self.server, self.ca, self.sa, user, self.sa))
        os.chmod(path, 0o600)
        return path

    def restricted_token(self):
        return open(self.env["KLE_RESTRICTED_TOKEN_FILE"]).read().strip()

    def lease_json(self, name=None):
        r = self.kubectl("get", "lease", name or self.lease, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def holder(self, name=None):
        j = self.lease_json(name)
        return None if j is None else j.get("spec", {}).get("holderIdentity", "")

    def create_pods(self, app, n):
        docs = []
        for i in range(n):
            docs.append("""---
apiVersion: v1
kind: Pod
metadata: {name: %s-%d, labels: {app: %s}}
spec:
  terminationGracePeriodSeconds: 0
  tolerations: [{operator: Exists}]
  containers: [{name: app, image: registry.k8s.io/pause:3.10}]
""" % (app, i, app))
        self.kubectl("apply", "-f", "-", input="".join(docs))

    def delete_pods(self, app):
        self.kubectl("delete", "pod", "-l", "app=" + app, "--wait=false", "--ignore-not-found", check=False)


class Apiserver:
    """Freeze/thaw (SIGSTOP/SIGCONT) or kill and restart the cluster's kube-apiserver with the
    exact command line, environment and working directory it had (from /proc)."""

    def __init__(self, cluster):
        self.c = cluster
        self.pid_file = os.path.join(cluster.dir, "pids", "kube-apiserver.pid")
        self.frozen = None

    def pid(self):
        pid = int(open(self.pid_file).read().strip())
        cmd = open("/proc/%d/cmdline" % pid, "rb").read().decode(errors="replace")
        if self.c.dir not in cmd:  # a recycled PID: not ours
            raise Failed("pid %d in %s is not this cluster's apiserver" % (pid, self.pid_file))
        return pid

    def freeze(self):
        pid = self.pid()
        os.kill(pid, signal.SIGSTOP)
        self.frozen = pid

    def thaw(self):
        if self.frozen is not None:
            try:
                os.kill(self.frozen, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.frozen = None

    def ready(self, timeout=2):
        ctx = ssl.create_default_context(cafile=self.c.ca)
        ctx.load_cert_chain(self.c.admin_cert, self.c.admin_key)
        try:
            with urllib.request.urlopen(self.c.server + "/readyz", context=ctx, timeout=timeout) as r:
                return r.status == 200
        except Exception:
            return False

    def kill(self):
        """SIGTERM, without waiting; returns what restart() needs to run it again."""
        pid = self.pid()
        argv = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")[:-1]
        env = dict(e.split(b"=", 1) for e in open("/proc/%d/environ" % pid, "rb").read().split(b"\0") if b"=" in e)
        cwd = os.readlink("/proc/%d/cwd" % pid)
        os.kill(pid, signal.SIGTERM)
        return pid, argv, env, cwd, time.time()

    @staticmethod
    def _wait_gone(pid, killed_at):
        """Up to 15 s after the SIGTERM for a graceful exit, then SIGKILL."""
        while os.path.exists("/proc/%d" % pid) and "Z" not in _proc_state(pid):
            if time.time() > killed_at + 15:
                os.kill(pid, signal.SIGKILL)
                killed_at = float("inf")
            time.sleep(0.05)

    def port(self):
        for line in open(os.path.join(self.c.dir, "ports")):
            if line.startswith("apiserver="):
                return int(line.split("=", 1)[1])
        raise Failed("no apiserver port in %s/ports" % self.c.dir)

    @staticmethod
    def _listening(port):
        """Whether anything still listens on 127.0.0.1:port (/proc/net/tcp, state 0A)."""
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = open(table).read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                f = row.split()
                if len(f) > 3 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                    return True
        return False

    def _wait_port_free(self, timeout=30):
        """A killed Go process can be a zombie while its other threads still hold its sockets
        (docs/ENGINEERING.md): wait for the port, not the PID, or the new apiserver may find
        it taken and exit."""
        port, deadline = self.port(), time.time() + timeout
        while self._listening(port):
            if time.time() > deadline:
                raise Failed("port %d still has a listener %d s after the old kube-apiserver went" % (port, timeout))
            time.sleep(0.1)

    def restart(self, saved, timeout=120):
        pid, argv, env, cwd, killed_at = saved
        self._wait_gone(pid, killed_at)
        self._wait_port_free()
        log = open(os.path.join(self.c.dir, "logs", "kube-apiserver.log"), "ab")
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, close_fds=True)
        with open(self.pid_file, "w") as f:  # tests/cluster/down stops the new one
            f.write("%d\n" % p.pid)
        deadline = time.time() + timeout
        while not self.ready():
            if p.poll() is not None:
                raise Failed("restarted kube-apiserver exited with %s (see %s/logs)" % (p.returncode, self.c.dir))
            if time.time() > deadline:
                raise Failed("restarted kube-apiserver not ready after %ds" % timeout)
            time.sleep(0.2)
        return p.pid


def _proc_state(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("State:"):
                return line
    except OSError:
        pass
    return "Z"


class Run:
    """One campaign's directory: events.jsonl, elector logs, pods.jsonl, proxies."""

    def __init__(self, cluster, timings, root, name, out=None):
        self.c, self.t, self.name = cluster, timings, name
        self.lease = cluster.lease
        self.dir = os.path.join(root, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.events = open(os.path.join(self.dir, "events.jsonl"), "a", buffering=1)
        self.lock = threading.Lock()
        self.electors, self.proxies, self.watchers = [], [], []
        self.out = out or sys.stdout
        self.checks = 0

    def say(self, msg):
        self.out.write("  [%s] %s\n" % (self.name, msg))
        self.out.flush()

    def ok(self, cond, msg):
        """An assertion: prints `ok: msg` or raises Failed(msg)."""
        if not cond:
            raise Failed(msg)
        self.checks += 1
        self.say("ok: " + msg)

    def event(self, event, **kv):
        kv["event"], kv["ts"] = event, now_ms()
        with self.lock:
            self.events.write(json.dumps(kv) + "\n")
        return kv["ts"]

    def fault(self, what):
        self.say("fault: " + what)
        return self.event("fault", what=what)

    def elector(self, idx, app, kubeconfig=None, clock_offset_h=0, extra=()):
        e = Elector(self, idx, app, kubeconfig or self.c.restricted_kc, clock_offset_h, list(extra))
        self.electors.append(e)
        return e

    def proxy(self, name):
        p = Proxy(self, name)
        self.proxies.append(p)
        return p

    def fault_proxy(self, name):
        p = FaultProxy(self, name)
        self.proxies.append(p)
        return p

    def watch_pods(self, app, label="leader-elector/leader=true"):
        w = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "podwatch.py"), "--server", self.c.server, "--ca", self.c.ca,
             "--cert", self.c.admin_cert, "--key", self.c.admin_key, "--namespace", self.c.ns,
             "--selector", "app=" + app, "--label", label, "--out", os.path.join(self.dir, "pods.jsonl")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "podwatch.err"), "a"))
        self.watchers.append(w)
        _wait(lambda: _connected(os.path.join(self.dir, "pods.jsonl")), 20, "pod watcher did not connect")

    def running(self):
        return [e for e in self.electors if e.alive()]

    def leaders(self, among=None):
        return [e for e in (among or self.running()) if e.is_leader()]

    def wait_leader(self, timeout_s, among=None, exclude=None):
        """The one elector whose /leader says isLeader (first seen), within timeout_s."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            cands = [e for e in (among or self.running()) if e is not exclude]
            for e in cands:
                if e.is_leader():
                    return e
            time.sleep(0.02)
        return None

    def cleanup(self):
        """Always runs: thaw the apiserver, heal proxies, stop electors (SIGTERM, then -9),
        then the pod watcher and proxies."""
        self.c.apiserver.thaw()
        for p in self.proxies:
            p.heal()
        for e in self.electors:
            if e.alive():
                e.term(wait_s=15)
        time.sleep(0.5)  # let the watcher see the last label changes
        for w in self.watchers:
            _stop(w)
        for p in self.proxies:
            p.stop()


def _connected(path):
    try:
        return any('"connected"' in l for l in open(path))
    except OSError:
        return False


def _wait(cond, timeout_s, msg):
    deadline = time.time() + timeout_s
    while not cond():
        if time.time() > deadline:
            raise Failed(msg)
        time.sleep(0.05)


def _stop(p, grace=10):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Elector:
    """One leader-elector process at a time for replica `idx` (pod `<app>-<idx>`); start()
    again after it exits to play a restarted container (a new process, `gen`+1)."""

    def __init__(self, run, idx, app, kubeconfig, clock_offset_h, extra):
        self.run, self.idx, self.kubeconfig = run, idx, kubeconfig
        self.identity = "%s-%d" % (app, idx)
        self.offset_ms = int(clock_offset_h * 3600 * 1000)
        self.extra = extra
        self.gen, self.p, self.port, self.log = 0, None, None, None

    @property
    def proc(self):
        return "%s#%d" % (self.identity, self.gen)

    def start(self, wait_port=True):
        self.gen += 1
        self.log = "elector-%s.%d.log" % (self.identity, self.gen)
        env = dict(os.environ, POD_NAME=self.identity, POD_NAMESPACE=self.run.c.ns, KUBECONFIG=self.kubeconfig)
        for k in ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC"):
            env.pop(k, None)
        if self.offset_ms:
            if not os.path.exists(FAKETIME_LIB):
                raise Failed("libfaketime is not installed (%s): apt-get install faketime" % FAKETIME_LIB)
            env.update(LD_PRELOAD=FAKETIME_LIB, FAKETIME="%+d" % (self.offset_ms // 1000),
                       FAKETIME_DONT_FAKE_MONOTONIC="1", FAKETIME_NO_CACHE="1")
            # An ASan build (tests/run-integration.sh build/asan) refuses to start when a
            # preload comes before its runtime; libfaketime only wraps time calls, so let it.
            asan = env.get("ASAN_OPTIONS", "")
            env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
        # setpriv --pdeathsig: if the harness itself dies, the elector gets SIGTERM rather than
        # running on forever (the thread that started it must outlive it, which cleanup ensures).
        cmd = (["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []) + [
               self.run.c.bin, "--lease-name", self.run.lease, "--http-address", "127.0.0.1:0",
               "--log-level", "debug"] + self.run.t.flags() + self.extra
        out = open(os.path.join(self.run.dir, self.log), "ab")
        self.p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                  start_new_session=True)
        self.port = None
        self.run.event("start", proc=self.proc, identity=self.identity, log=self.log, pid=self.p.pid,
                       clock_offset_ms=self.offset_ms)
        if wait_port:
            _wait(self._find_port, 15, "%s did not start serving HTTP (log %s)" % (self.proc, self.log))
        return self

    def _find_port(self):
        if self.p.poll() is not None:
            raise Failed("%s exited at start with %s: %s" % (self.proc, self.p.returncode, self.tail()))
        for l in self.lines():
            if l.get("msg") == "serving" and "port" in l:
                self.port = l["port"]
                return True
        return False

    def lines(self):
        out = []
        try:
            with open(os.path.join(self.run.dir, self.log), errors="replace") as f:
                for line in f:
                    if line.startswith("{"):
                        try:
                            out.append(json.loads(line))
                        except ValueError:
                            pass
        except OSError:
            pass
        return out

    def tail(self, n=5):
        try:
            return " | ".join(open(os.path.join(self.run.dir, self.log), errors="replace").read().splitlines()[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def leader_info(self, tries=3):
        """/leader as a dict; None when the process is gone or did not answer `tries` times
        (a busy machine can miss one short timeout; that is no answer, not a "no")."""
        for attempt in range(tries):
            if not self.alive() or not self.port:
                return None
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/leader" % self.port, timeout=2) as r:
                    return json.loads(r.read())
            except Exception:
                if attempt + 1 < tries:
                    time.sleep(0.1)
        return None

    def is_leader(self):
        i = self.leader_info()
        return bool(i and i.get("isLeader"))

    def says_follower(self):
        """True only when /leader answered isLeader=false (a missing answer is not a no)."""
        i = self.leader_info()
        return i is not None and i.get("isLeader") is False

    def sees_holder(self):
        i = self.leader_info()
        return i.get("holder") if i else None

    def healthz(self, tries=3):
        """The HTTP status of /healthz, or None when it did not answer `tries` times in a row
        (one missed short timeout on a busy machine is the machine, not the elector)."""
        for attempt in range(tries):
            if not self.alive() or not self.port:
                return None
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port, timeout=2) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
            except Exception:
                if attempt + 1 < tries:
                    time.sleep(0.1)
        return None

    def term(self, wait_s=15):
        self.p.send_signal(signal.SIGTERM)
        self.run.event("sigterm", proc=self.proc)
        try:
            rc = self.p.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise Failed("%s ignored SIGTERM for %ds" % (self.proc, wait_s))
        self.run.event("exited", proc=self.proc, rc=rc)
        return rc

    def kill9(self):
        self.p.kill()
        self.run.event("kill9", proc=self.proc)
        rc = self.p.wait(10)
        self.run.event("exited", proc=self.proc, rc=rc)

    def msg_times(self, msg, since_ms=0):
        """Timestamps (ms, corrected for a faked clock) of log lines with this msg."""
        from check_intervals import iso_ms
        return [iso_ms(l["ts"]) - self.offset_ms for l in self.lines()
                if l.get("msg") == msg and iso_ms(l["ts"]) - self.offset_ms >= since_ms]


class Proxy:
    def __init__(self, run, name):
        self.run, self.name = run, name
        port_file = os.path.join(run.dir, "proxy-%s.port" % name)
        target = run.c.server.split("://", 1)[1]
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "proxy.py"), "--target", target,
                                   "--port-file", port_file], stdin=subprocess.DEVNULL,
                                  stdout=open(os.path.join(run.dir, "proxy-%s.log" % name), "a"),
                                  stderr=subprocess.STDOUT)
        _wait(lambda: os.path.exists(port_file), 10, "proxy %s did not start" % name)
        self.port = int(open(port_file).read())
        self.down = False

    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def _mode_changes(self, event):
        out = []
        try:
            for line in open(os.path.join(self.run.dir, "proxy-%s.log" % self.name)):
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("event") == event:
                    out.append(rec["ts"])
        except OSError:
            pass
        return out

    def blackhole(self):
        """Returns when the proxy has switched (its own log says so), with that time in ms:
        the signal is handled asynchronously, late on a busy machine."""
        before = len(self._mode_changes("blackhole"))
        self.p.send_signal(signal.SIGUSR1)
        self.down = True
        _wait(lambda: len(self._mode_changes("blackhole")) > before, 20, "proxy %s did not switch to blackhole" % self.name)
        return self._mode_changes("blackhole")[-1]

    def heal(self):
        if self.down and self.p.poll() is None:
            self.p.send_signal(signal.SIGUSR2)
        self.down = False

    def stop(self):
        _stop(self.p)


class FaultProxy:
    """tests/chaos/faultproxy.py between one elector and the apiserver: arm() a bad response."""

    def __init__(self, run, name):
        self.run, self.name = run, name
        crt, key = run.c.proxy_cert()
        port_file = os.path.join(run.dir, "faultproxy-%s.port" % name)
        self.control = os.path.join(run.dir, "faultproxy-%s.control.json" % name)
        self.log = os.path.join(run.dir, "faultproxy-%s.log" % name)
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "faultproxy.py"),
                                   "--target", run.c.server.split("://", 1)[1], "--ca", run.c.ca,
                                   "--cert", crt, "--key", key, "--port-file", port_file,
                                   "--control", self.control],
                                  stdin=subprocess.DEVNULL, stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        _wait(lambda: os.path.exists(port_file), 10, "fault proxy %s did not start (%s)" % (name, self.log))
        self.port = int(open(port_file).read())
        self.next_id = 0

    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def arm(self, **fault):
        """Arms one fault (see faultproxy.py); returns its id, which its log records carry."""
        self.next_id += 1
        fault["id"] = self.next_id
        tmp = self.control + ".tmp"
        with open(tmp, "w") as f:
            json.dump(fault, f)
        os.replace(tmp, self.control)
        return self.next_id

    def records(self):
        out = []
        for line in open(self.log):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def heal(self):
        pass

    def stop(self):
        _stop(self.p)
