#!/usr/bin/env python3
"""What metrics cost /access: the release build started twice, with
`metrics.enabled = false` (before: no registry, no counting middleware, no
token-check timing) and with metrics on (after), measured side by side in
alternating rounds (ABBA order, so drift on a shared machine lands on both),
medians reported. Uses bench/load.py's helpers: the same environment, wrk
settings and CPU-per-request reading.

Usage: bench/metrics_overhead.py [--binary target/release/tokengate] [--rounds 6] [--duration 8]

With --before-binary OLD it compares two builds instead, both with metrics
on: OLD (before) against --binary (after), the same ABBA rounds; the
before/after figure of a change to the request path.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402

PORTS = {"before": 22180, "after": 22181}


def start(binary, workdir, port, metrics):
    env = load.bench_env(workdir, port, metrics__enabled="true" if metrics else "false")
    process = subprocess.Popen([binary], cwd=load.ROOT, env=env)
    load.PORT = port
    deadline = time.time() + 10
    while not load.healthz_ok():
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{binary} did not start")
        time.sleep(0.05)
    return process


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(load.BINARY))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--before-binary", help="compare this build (before) with --binary")
    args = parser.parse_args()
    binaries = {"before": args.before_binary or args.binary, "after": args.binary}
    metrics_on = {"before": bool(args.before_binary), "after": True}
    results = {name: [] for name in binaries}
    with tempfile.TemporaryDirectory() as tmp:
        processes, tokens = {}, {}
        try:
            for name, binary in binaries.items():
                workdir = Path(tmp) / name
                workdir.mkdir()
                processes[name] = start(binary, workdir, PORTS[name], metrics=metrics_on[name])
                load.PORT = PORTS[name]
                tokens[name] = load.login_token()
                load.wrk("/access", [f"Authorization: Bearer {tokens[name]}"], duration=2)
            for round_ in range(args.rounds):
                order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
                for name in order:
                    load.PORT = PORTS[name]
                    results[name].append(load.wrk(
                        "/access", [f"Authorization: Bearer {tokens[name]}"],
                        connections=args.connections, duration=args.duration,
                        pid=processes[name].pid))
                    print(name, f"{results[name][-1]['rps']:.0f} req/s", file=sys.stderr)
        finally:
            for process in processes.values():
                process.terminate()
                process.wait(timeout=40)

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    lines = [
        "| /access, valid Bearer token | req/s (median) | each round | p99 ms (median) | service CPU µs/req (median) |",
        "|---|---:|---|---:|---:|",
    ]
    for name in binaries:
        if args.before_binary:
            label = f"{name}: `{binaries[name]}`"
        else:
            label = "metrics off (before)" if name == "before" else "metrics on (after)"
        each = " / ".join(f"{r['rps']:.0f}" for r in results[name])
        lines.append(f"| {label} | {median(name, 'rps'):.0f} | {each} | {median(name, 'p99'):.2f} | "
                     f"{median(name, 'cpu_us'):.1f} |")
    rps = median("after", "rps") / median("before", "rps")
    cpu = median("after", "cpu_us") / median("before", "cpu_us")
    lines += [
        "",
        f"after ÷ before: req/s {rps:.3f} ({(rps - 1) * 100:+.1f} %), "
        f"service CPU per request {cpu:.3f} ({(cpu - 1) * 100:+.1f} %).",
        f"wrk: 1 thread, {args.connections} connections, {args.duration} s per round, "
        f"{args.rounds} rounds in ABBA order; load average before the run {load.LOAD_BEFORE:.2f}.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
