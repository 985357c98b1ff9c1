#!/usr/bin/env python3
"""A TCP proxy that can play a network partition, for the chaos campaigns.

    proxy.py --target 127.0.0.1:6443 --port-file FILE

Listens on 127.0.0.1 (a free port, written to --port-file once bound) and forwards every
connection to --target byte for byte (TLS passes through untouched, so the apiserver's
certificate still names 127.0.0.1).

Signals switch the mode:
  SIGUSR1  blackhole: from now on nothing is forwarded in either direction. Open connections
           stay open but every byte read is dropped, and new connections are accepted and
           never connected upstream, so a client sees requests time out rather than fail fast,
           as behind a real partition.
  SIGUSR2  heal: connections that lived through the blackhole are aborted (their TLS streams
           lost bytes and cannot recover; a real client would time them out), new ones are
           forwarded again.
  SIGTERM  exit.
Every mode change is printed as a JSON line with a millisecond timestamp.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time


def log(**kv):
    kv["ts"] = int(time.time() * 1000)
    print(json.dumps(kv), flush=True)


class Conn:
    def __init__(self):
        self.writers = []
        self.poisoned = False

    def abort(self):
        for w in self.writers:
            try:
                w.transport.abort()
            except Exception:  # already gone
                pass


class Proxy:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.blackhole = False
        self.conns = set()
        self.stats = {"accepted": 0, "dropped_bytes": 0}

    def set_blackhole(self, on):
        self.blackhole = on
        if on:
            for c in self.conns:
                c.poisoned = True
        else:
            for c in list(self.conns):
                if c.poisoned:
                    c.abort()
        log(event="blackhole" if on else "heal", open_connections=len(self.conns), **self.stats)

    async def pipe(self, conn, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.blackhole or conn.poisoned:
                    conn.poisoned = True
                    self.stats["dropped_bytes"] += len(data)
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            if conn.poisoned:
                conn.abort()
            try:
                writer.close()
            except Exception:
                pass

    async def handle(self, creader, cwriter):
        self.stats["accepted"] += 1
        conn = Conn()
        conn.writers.append(cwriter)
        self.conns.add(conn)
        try:
            if self.blackhole:
                conn.poisoned = True
                # Swallow whatever the client sends until it gives up or we heal.
                await self.pipe(conn, creader, cwriter)
                return
            try:
                ureader, uwriter = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), timeout=5)
            except (OSError, asyncio.TimeoutError):
                cwriter.transport.abort()  # upstream down: the client sees a reset, as it would
                return
            conn.writers.append(uwriter)
            await asyncio.gather(self.pipe(conn, creader, uwriter), self.pipe(conn, ureader, cwriter))
        finally:
            self.conns.discard(conn)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--max-seconds", type=float, default=7200)
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    proxy = Proxy(host, int(port))
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    bound = server.sockets[0].getsockname()[1]
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(bound))
    os.replace(tmp, a.port_file)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, proxy.set_blackhole, True)
    loop.add_signal_handler(signal.SIGUSR2, proxy.set_blackhole, False)
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.add_signal_handler(signal.SIGINT, lambda: stop.done() or stop.set_result(None))
    log(event="listening", port=bound, target=a.target)

    async def watchdog():
        # Bounded even if the harness dies without stopping us: exit when orphaned or too old.
        parent, give_up = os.getppid(), time.time() + a.max_seconds
        while os.getppid() == parent and time.time() < give_up:
            await asyncio.sleep(1)
        if not stop.done():
            stop.set_result(None)

    wd = asyncio.ensure_future(watchdog())
    async with server:
        await stop
    wd.cancel()
    for c in list(proxy.conns):
        c.abort()
    log(event="exit", **proxy.stats)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
