#!/usr/bin/env python3
"""Sessions benchmark: what the Redis store costs, measured in one run.

1. Throughput: /access and /auth/verify with a valid token, against one
   tokengate on the memory store and one on a Redis store, in alternating
   wrk rounds (medians), so the ratio holds on a busy machine. The token
   check never waits on Redis; this shows it.
2. Revocation propagation: three replicas on one Redis. Each sample logs in
   on replica A, starts polling /access on B and C, logs out on A, and takes
   the time from sending the logout until B (and C) first answer 401. Poll
   interval is the loop's own speed (about a millisecond), which bounds the
   resolution.

Both use the release build (bench/load.py's environment, throttle off; or
the binary TOKENGATE_BENCH_BIN names, built elsewhere) and a redis-server
this script starts on a free port, persistence off. Prints a
Markdown section and writes it into BENCHMARKS.md between the
`<!-- sessions -->` markers. Usage: bench/sessions.py [--duration 5]
[--rounds 3] [--connections 32] [--samples 200] [--no-write]
"""

import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (bench_env, wrk, median_run, BINARY)

ROOT = load.ROOT
BASE_PORT = 22180


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_synced(readyz_url):
    """Whether /readyz reports the revocation state in sync with Redis."""
    try:
        with urllib.request.urlopen(readyz_url, timeout=1) as response:
            return json.load(response)["sessions"]["synced"] is True
    except (OSError, ValueError, KeyError):
        return False


class Redis:
    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        self.process.kill()
        self.process.wait()


class Tokengate:
    def __init__(self, workdir, port, store, workers=None):
        settings = {"sessions__store": store, "server__instance_id": f"bench-{port}"}
        if workers:
            settings["server__workers"] = str(workers)
        env = load.bench_env(workdir, port, **settings)
        self.port = port
        self.process = subprocess.Popen([str(load.BINARY)], cwd=ROOT, env=env)
        deadline = time.monotonic() + 15
        while not self.synced():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tokengate on {port} did not get ready")
            time.sleep(0.05)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def synced(self):
        return is_synced(self.url("/readyz"))

    def login(self):
        request = urllib.request.Request(self.url("/login"), headers={
            "Authorization": load.basic_header(), "Accept": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.load(response)["access_token"]

    def status(self, path, token, method="GET"):
        request = urllib.request.Request(self.url(path), method=method,
                                         headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=40)


def throughput(workdir, redis, args):
    memory = Tokengate(workdir / "m", BASE_PORT, "memory")
    shared = Tokengate(workdir / "r", BASE_PORT + 1, redis.url)
    try:
        servers = {"memory": memory, "redis": shared}
        bearer = {name: f"Authorization: Bearer {s.login()}" for name, s in servers.items()}
        runs = {(route, name): [] for route in ("/access", "/auth/verify") for name in servers}
        for server in servers.values():  # warm-up
            load.PORT = server.port
            load.wrk("/healthz", connections=8, duration=1)
        for _ in range(args.rounds):
            for route in ("/access", "/auth/verify"):
                for name, server in servers.items():
                    load.PORT = server.port
                    runs[(route, name)].append(load.wrk(
                        route, [bearer[name]], connections=args.connections,
                        duration=args.duration, pid=server.process.pid))
        return {key: load.median_run(value) for key, value in runs.items()}
    finally:
        memory.stop()
        shared.stop()


def propagation(workdir, redis, samples):
    replicas = [Tokengate(workdir / f"p{i}", BASE_PORT + 10 + i, redis.url, workers=1)
                for i in range(3)]
    a, others = replicas[0], replicas[1:]
    delays = {server.port: [] for server in others}
    logout_ms = []
    try:
        for _ in range(samples):
            token = a.login()
            started = threading.Event()
            t0 = [0.0]

            def watch(server):
                while not started.is_set():
                    time.sleep(0.0005)
                while server.status("/access", token) != 401:
                    if time.perf_counter() - t0[0] > 5:
                        raise RuntimeError("revocation never arrived")
                delays[server.port].append((time.perf_counter() - t0[0]) * 1000)

            watchers = [threading.Thread(target=watch, args=(s,)) for s in others]
            for watcher in watchers:
                watcher.start()
            t0[0] = time.perf_counter()
            started.set()
            assert a.status("/logout", token, method="POST") == 204
            logout_ms.append((time.perf_counter() - t0[0]) * 1000)
            for watcher in watchers:
                watcher.join()
    finally:
        for server in replicas:
            server.stop()
    every = [d for values in delays.values() for d in values]
    return every, logout_ms


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def render(rows, every, logout_ms, args):
    load_after = os.getloadavg()[0]
    lines = [
        "<!-- sessions -->",
        "## Sessions: the Redis store's cost",
        "",
        f"Measured {datetime.date.today()} by `{binary_note()}bench/sessions.py --duration {args.duration} "
        f"--rounds {args.rounds} --connections {args.connections} --samples {args.samples}` "
        f"({'that binary' if binary_note() else 'release build'}, {os.cpu_count()} cores shared with other work, load average "
        f"{load.LOAD_BEFORE:.1f} before and {load_after:.1f} after: absolute figures are "
        "noisy, the ratios come from alternating rounds in one run).",
        "",
        "| route | memory store req/s | Redis store req/s | ratio | p99 memory / Redis (ms) |",
        "|---|---|---|---|---|",
    ]
    for route in ("/access", "/auth/verify"):
        memory, redis = rows[(route, "memory")], rows[(route, "redis")]
        lines.append(
            f"| `{route}` valid token | {memory['rps']:,.0f} | {redis['rps']:,.0f} | "
            f"{redis['rps'] / memory['rps']:.2f} | {memory['p99']:.2f} / {redis['p99']:.2f} |")
    lines += [
        "",
        f"Revocation propagation, three replicas on one Redis, {args.samples} logouts: from "
        "sending `POST /logout` to replica A until replica B (and C) first refuse the token.",
        "",
        "| | p50 | p99 | max |",
        "|---|---|---|---|",
        f"| logout reaches the other replicas | {percentile(every, 50):.1f} ms | "
        f"{percentile(every, 99):.1f} ms | {max(every):.1f} ms |",
        f"| the logout request itself | {percentile(logout_ms, 50):.1f} ms | "
        f"{percentile(logout_ms, 99):.1f} ms | {max(logout_ms):.1f} ms |",
        "<!-- /sessions -->",
    ]
    return "\n".join(lines)


def binary_note():
    custom = os.environ.get("TOKENGATE_BENCH_BIN")
    return f"TOKENGATE_BENCH_BIN={custom} " if custom else ""


def write(section):
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    if "<!-- sessions -->" in text:
        head, rest = text.split("<!-- sessions -->", 1)
        tail = rest.split("<!-- /sessions -->", 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    print(f"wrote {path}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load.ensure_wrk()
    if os.environ.get("TOKENGATE_BENCH_BIN"):
        load.BINARY = Path(os.environ["TOKENGATE_BENCH_BIN"]).resolve()
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    redis = Redis()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            workdir = Path(workdir)
            for name in ("m", "r", "p0", "p1", "p2"):
                (workdir / name).mkdir()
            rows = throughput(workdir, redis, args)
            every, logout_ms = propagation(workdir, redis, args.samples)
    finally:
        redis.stop()
    section = render(rows, every, logout_ms, args)
    print(section)
    if not args.no_write:
        write(section)


if __name__ == "__main__":
    main()
