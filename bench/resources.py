#!/usr/bin/env python3
"""What one pod needs: RSS and CPU of the release binary as the Kubernetes
Deployment runs it (two workers), idle, under /access load, and under a login
flood beside that load, the worst case (each password check holds a 19 MiB
argon2 work area). deploy/kubernetes/deployment.yaml's requests and limits
come from these figures (BENCHMARKS.md, "Kubernetes resources").

Usage: bench/resources.py [--binary PATH] [--duration 15]
The binary defaults to the static build the image ships
(target/x86_64-unknown-linux-gnu/release/tokengate, built with
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target
x86_64-unknown-linux-gnu), else target/release/tokengate.
"""

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (the same credentials, secret and wrk parsing)

STATIC = load.ROOT / "target" / "x86_64-unknown-linux-gnu" / "release" / "tokengate"
PORT = 22180


class Sampler:
    """Peak RSS (sampled every 50 ms) and CPU seconds over a stretch."""

    def __init__(self, pid):
        self.pid = pid
        self.peak_kib = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while not self.stopping.is_set():
            self.peak_kib = max(self.peak_kib, load.rss_kib(self.pid))
            time.sleep(0.05)

    def __enter__(self):
        self.cpu = load.cpu_seconds(self.pid)
        self.wall = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()
        self.cores = (load.cpu_seconds(self.pid) - self.cpu) / (time.monotonic() - self.wall)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", type=Path, default=STATIC if STATIC.exists() else load.BINARY)
    parser.add_argument("--duration", type=int, default=15)
    args = parser.parse_args()
    load.BINARY = args.binary
    load.PORT = PORT
    workdir = Path(tempfile.mkdtemp(prefix="tokengate-resources-"))
    env = load.bench_env(workdir, PORT, server__workers="2")
    process = subprocess.Popen([str(args.binary)], cwd=load.ROOT, env=env)
    rows = []
    try:
        while not load.healthz_ok():
            time.sleep(0.01)
        time.sleep(1)
        rows.append(("idle", load.rss_kib(process.pid), 0.0, "–"))
        token = load.login_token()
        bearer = f"Authorization: Bearer {token}"

        with Sampler(process.pid) as sample:
            result = load.wrk("/access", [bearer], duration=args.duration)
        rows.append(("/access, 32 connections", sample.peak_kib, sample.cores, f"{result['rps']:.0f} req/s"))

        flood = {}

        def login_flood():
            flood.update(load.wrk("/login", [f"Authorization: {load.basic_header()}"],
                                  connections=64, duration=args.duration, timeout="30s"))

        with Sampler(process.pid) as sample:
            thread = threading.Thread(target=login_flood)
            thread.start()
            result = load.wrk("/access", [bearer], duration=args.duration)
            thread.join()
        rows.append(("/access beside a /login flood (64 connections)", sample.peak_kib, sample.cores,
                     f"{result['rps']:.0f} + {flood['rps']:.0f} logins/s"))
        time.sleep(12)
        rows.append(("12 s after the flood", load.rss_kib(process.pid), 0.0, "–"))
    finally:
        process.terminate()
        process.wait(timeout=40)

    print(f"binary: {args.binary}; 2 workers; wrk 1 thread on the same machine, {args.duration} s each; "
          f"load average before: {load.LOAD_BEFORE:.2f}")
    print("| state | RSS (peak while loaded) | CPU (cores) | throughput |")
    print("|---|---:|---:|---|")
    for state, kib, cores, throughput in rows:
        print(f"| {state} | {kib / 1024:.1f} MiB | {cores:.2f} | {throughput} |")


if __name__ == "__main__":
    main()
