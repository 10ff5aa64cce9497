#!/usr/bin/env python3
"""Instructions per request, per route: runs the release build under
valgrind's callgrind with one worker, warms each route up, zeroes the
counters, sends N keep-alive requests and reads the totals back. Unlike
req/s, the counts do not move with the machine's load, so they compare
builds and routes exactly (BENCHMARKS.md, "Where /access's time goes").

Usage: bench/callgrind.py [--requests 2000] [--metrics-off] [--bare-actix] [PATH ...]
(default: /bare /access). --metrics-off runs with `metrics.enabled = false`:
the difference is what the metrics cost per request, exactly. --bare-actix
first profiles bench/peers/bare_actix.rs's static route (actix-web with no
middleware, the peers' ceiling) the same way, so the table shows what
tokengate adds to actix-web's own work.
Builds with the `bench-routes` cargo feature, which /bare needs.
Needs valgrind (Debian's package). Leaves the profiles in target/callgrind/
for callgrind_annotate --inclusive=yes.
"""

import argparse
import http.client
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (the same binary, credentials and secret)

PORT = 22083
OUT = load.ROOT / "target" / "callgrind"


def connect(probe):
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            connection.request("GET", probe)
            connection.getresponse().read()
            return connection
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def send(connection, path, headers, count):
    for _ in range(count):
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")


def login(connection):
    connection.request("GET", "/login", headers={
        "Authorization": load.basic_header(), "Accept": "application/json"})
    response = connection.getresponse()
    body = response.read().decode()
    return re.search(r'"access_token":"([^"]+)"', body).group(1)


def profile(path, requests, env, suffix="", command=None):
    """Tokengate's release build, or `command` (a server that needs no login)."""
    name = (path.strip("/").replace("/", "_") or "root") + suffix
    out = OUT / f"{name}.out"
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         *(command or [str(load.BINARY)])],
        cwd=load.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        connection = connect(path if command else "/healthz")
        headers = {} if command else {"Authorization": f"Bearer {login(connection)}"}
        send(connection, path, headers, 200)
        subprocess.run(["callgrind_control", "-z", str(process.pid)], check=True,
                       capture_output=True)
        send(connection, path, headers, requests)
        subprocess.run(["callgrind_control", "-d", str(process.pid)], check=True,
                       capture_output=True)
    finally:
        process.terminate()
        process.wait(timeout=60)
    dumped = sorted(OUT.glob(f"{name}.out.*"), key=lambda p: p.stat().st_mtime)[-1]
    totals = re.search(r"^totals:\s+(\d+)", dumped.read_text(), re.M)
    return int(totals.group(1)) / requests, dumped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--metrics-off", action="store_true")
    parser.add_argument("--bare-actix", action="store_true")
    parser.add_argument("paths", nargs="*", default=["/bare", "/access"])
    args = parser.parse_args()
    # The example pulls in the dev-dependencies: built only when it is profiled.
    example = ["--bin", "tokengate", "--example", "bare_actix"] if args.bare_actix else []
    subprocess.run(load.BUILD + example, cwd=load.ROOT, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob(f"*{'-metrics-off' if args.metrics_off else ''}.out*"):
        stale.unlink()
    env = load.bench_env(OUT, PORT, server__workers="1", server__bare_route="true",
                         metrics__enabled="false" if args.metrics_off else "true")
    suffix = "-metrics-off" if args.metrics_off else ""
    print("| route | instructions per request | profile |")
    print("|---|---:|---|")
    if args.bare_actix:
        bare_actix = [str(load.ROOT / "target" / "release" / "examples" / "bare_actix"),
                      str(PORT), load.SECRET]
        per_request, dumped = profile("/static", args.requests, None, "-bare-actix", bare_actix)
        print(f"| bare actix-web /static | {per_request / 1000:.1f}k | "
              f"{dumped.relative_to(load.ROOT)} |")
    for path in args.paths:
        per_request, dumped = profile(path, args.requests, env, suffix)
        print(f"| {path} | {per_request / 1000:.1f}k | {dumped.relative_to(load.ROOT)} |")


if __name__ == "__main__":
    main()
