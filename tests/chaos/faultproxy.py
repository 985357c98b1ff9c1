#!/usr/bin/env python3
"""An HTTPS proxy in front of the real kube-apiserver that injects bad responses, for the
chaos campaign "bad-responses".

    faultproxy.py --target 127.0.0.1:6443 --ca CA --cert CRT --key KEY --port-file F --control C

It terminates TLS with a certificate for 127.0.0.1 signed by the cluster's CA (so the
elector's kubeconfig needs no change but the server URL), and forwards each HTTP/1.1 request
to the apiserver over its own verified TLS connection, streaming responses through, watch
streams included. Bearer tokens pass through untouched, so the apiserver still authenticates
and authorizes the elector itself.

Faults are armed through the --control file, a JSON object re-read whenever it changes:
    {"id": 3, "fault": "status", "status": 429, "retry_after": 2, "method": "PUT", "count": 1}
The next `count` requests with that method (any, if absent) get the fault, then it disarms:
  status  answer with `status` and a metav1.Status body (Retry-After if given) without
          forwarding: the apiserver never sees the request.
  torn    forward; relay the status line, the headers and half of the body, then close.
  close   forward; close the client's connection without a byte of the response.
  slow    forward; hold the response back for `delay_ms`, then relay it.
For torn, close and slow the apiserver did carry out the request: a write landed, and only
the client does not know it. Every request is logged as a JSON line with a millisecond
timestamp, `fault` naming what was done to it.
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
import time


def log(**kv):
    kv["ts"] = int(time.time() * 1000)
    print(json.dumps(kv), flush=True)


class Faults:
    def __init__(self, path):
        self.path, self.mtime, self.armed, self.left = path, None, None, 0

    def take(self, method):
        """The fault for this request, or None; re-reads the control file when it changed."""
        try:
            st = os.stat(self.path)
            if st.st_mtime_ns != self.mtime:
                self.mtime = st.st_mtime_ns
                with open(self.path) as f:
                    self.armed = json.load(f)
                self.left = int(self.armed.get("count", 1))
        except FileNotFoundError:
            pass
        a = self.armed
        if not a or self.left <= 0 or a.get("method", method) != method:
            return None
        self.left -= 1
        return a


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return head, lines[0], headers


async def read_body(reader, headers, on_data):
    """Reads one message body after its head, handing raw bytes (chunk framing included) to
    on_data as they arrive, so that watch streams flow through."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            data = await reader.readexactly(size + 2)
            await on_data(size_line + data)
            if size == 0:
                return
    n = int(headers.get("content-length", "0"))
    if n:
        await on_data(await reader.readexactly(n))


class Proxy:
    def __init__(self, args):
        self.host, port = args.target.rsplit(":", 1)
        self.port = int(port)
        self.faults = Faults(args.control)
        self.up_ctx = ssl.create_default_context(cafile=args.ca)

    async def handle(self, creader, cwriter):
        up = None
        try:
            while True:
                try:
                    head, reqline, headers = await read_head(creader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                body = bytearray()

                async def keep(b):
                    body.extend(b)

                await read_body(creader, headers, keep)
                method, path = reqline.split(" ")[0], reqline.split(" ")[1]
                fault = self.faults.take(method)
                kind = fault["fault"] if fault else None
                if kind == "status":
                    await self.answer(cwriter, fault)
                    log(method=method, path=path, fault="status", status=fault["status"], id=fault.get("id"))
                    continue
                if up is None:
                    up = await asyncio.open_connection(self.host, self.port, ssl=self.up_ctx,
                                                       server_hostname=self.host)
                ureader, uwriter = up
                uwriter.write(head + bytes(body))
                await uwriter.drain()
                rhead, status_line, rheaders = await read_head(ureader)
                status = int(status_line.split(" ")[1])
                if kind is None:
                    cwriter.write(rhead)

                    async def relay(b):
                        cwriter.write(b)
                        await cwriter.drain()

                    streaming = "watch=" in path
                    if streaming:
                        log(method=method, path=path, status=status, fault=None, stream="open")
                    await read_body(ureader, rheaders, relay)
                    await cwriter.drain()
                    log(method=method, path=path, status=status, fault=None)
                    if rheaders.get("connection", "").lower() == "close":
                        return
                    continue
                whole = bytearray()

                async def collect(b):
                    whole.extend(b)

                await read_body(ureader, rheaders, collect)
                log(method=method, path=path, status=status, fault=kind, id=fault.get("id"),
                    delay_ms=fault.get("delay_ms"))
                if kind == "slow":
                    await asyncio.sleep(fault.get("delay_ms", 5000) / 1000)
                    cwriter.write(rhead + bytes(whole))
                    await cwriter.drain()
                    continue
                if kind == "torn":
                    cwriter.write(rhead + bytes(whole[: max(1, len(whole) // 2)]))
                    await cwriter.drain()
                return  # torn and close: the connection ends here
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError) as e:
            log(error=type(e).__name__, detail=str(e)[:200])
        finally:
            for w in ([cwriter] + ([up[1]] if up else [])):
                try:
                    w.transport.abort()
                except Exception:  # already gone
                    pass

    @staticmethod
    async def answer(w, fault):
        code = int(fault["status"])
        reason = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}.get(
            code, "InternalError")
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": "injected by the chaos fault proxy", "reason": reason, "code": code}).encode()
        extra = "Retry-After: %d\r\n" % fault["retry_after"] if fault.get("retry_after") else ""
        w.write(("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                 % (code, reason, len(body), extra)).encode() + body)
        await w.drain()


async def main():
    ap = argparse.ArgumentParser()
    for a in ("--target", "--ca", "--cert", "--key", "--port-file", "--control"):
        ap.add_argument(a, required=True)
    args = ap.parse_args()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    p = Proxy(args)
    server = await asyncio.start_server(p.handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, args.port_file)
    log(listening=port, target=args.target)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
