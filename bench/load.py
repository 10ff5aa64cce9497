#!/usr/bin/env python3
"""Load benchmark: starts the release build and measures, in one run on this
machine, the bare route (the ceiling), /access with valid and invalid tokens,
/auth/verify when present, /login, and each class beside the other's flood:
/access during a login flood, and /login during a CPU-saturating flood of
invalid tokens (issue #18: both must keep their service); plus
idle and peak RSS and the time from process start to the first /healthz 200.

The token scenarios and the bare route run in alternating rounds and the
table gives each one's median, so drift on a shared machine (another build
starting, say) lands on all of them rather than on whichever ran last. Beside
req/s it gives the service's own CPU time per request (utime + stime from
/proc), which moves far less with the machine's load than req/s does.

Prints a Markdown table and writes BENCHMARKS.md. Installs wrk (Debian) if
missing. Usage: bench/load.py [--duration 8] [--rounds 3] [--connections 32]
[--no-write] [--binary PATH] [--floods-only]
The bare route exists only in builds with the `bench-routes` cargo feature
(BUILD below); a --binary must be one.
"""

import argparse
import base64
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "tokengate"
PORT = 22080
# The release build with the bench-only /bare route compiled in.
BUILD = ["cargo", "build", "--release", "--quiet", "--features", "bench-routes"]
USER, PASSWORD = "bench", "bench-password"
SECRET = "bench-secret-0123456789abcdef0123456789"


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kwargs).stdout


def ensure_wrk():
    if shutil.which("wrk"):
        return
    print("installing wrk from Debian's packages", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def cpu_seconds(pid):
    """User + system CPU time of the whole process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found")


def healthz_ok():
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=0.05) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def bench_env(workdir, port, **settings):
    """The environment a benchmarked tokengate runs with: the bench user in a
    users file under workdir, the throttle off (the login scenarios measure
    hashing, not the throttle), plus TOKENGATE__ settings (server__bare_route
    for the scripts that drive /bare, on a BUILD binary)."""
    users = workdir / "users"
    users.write_text(sh(str(BINARY), "hash-password", "--user", USER, input=PASSWORD + "\n"))
    env = {
        **os.environ,
        "RUST_LOG": "warn",
        "TOKENGATE__SERVER__PORT": str(port),
        "TOKENGATE__JWT__SECRET": SECRET,
        "TOKENGATE__JWT__TTL": "1h",
        "TOKENGATE__USERS__FILE": str(users),
        "TOKENGATE__LIMITS__LOGIN_PER_IP_PER_MINUTE": "0",
        "TOKENGATE__LIMITS__LOGIN_PER_USER_PER_MINUTE": "0",
        "TOKENGATE__LIMITS__LOGIN_PER_USER_CEILING_PER_MINUTE": "0",
    }
    env.update({f"TOKENGATE__{key.upper()}": value for key, value in settings.items()})
    return env


class Server:
    def __init__(self, workdir):
        env = bench_env(workdir, PORT, server__bare_route="true")
        started = time.perf_counter()
        self.process = subprocess.Popen([str(BINARY)], cwd=ROOT, env=env)
        while not healthz_ok():
            if self.process.poll() is not None:
                raise RuntimeError("tokengate exited during start-up")
            if time.perf_counter() - started > 10:
                raise RuntimeError("tokengate not ready after 10 s")
        self.ready_ms = (time.perf_counter() - started) * 1000
        time.sleep(1)
        self.idle_rss_kib = rss_kib(self.process.pid)

    def stop(self):
        peak = rss_kib(self.process.pid, "VmHWM")
        self.process.terminate()
        self.process.wait(timeout=40)
        return peak


def url(path):
    return f"http://127.0.0.1:{PORT}{path}"


def login_token():
    request = urllib.request.Request(url("/login"), headers={
        "Authorization": basic_header(),
        "Accept": "application/json",
    })
    with urllib.request.urlopen(request) as response:
        return json.load(response)["access_token"]


def basic_header():
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def path_exists(path):
    try:
        urllib.request.urlopen(url(path))
        return True
    except urllib.error.HTTPError as error:
        return error.code != 404


LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(path, headers=(), connections=32, duration=10, threads=1, timeout="10s", pid=None):
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
            f"--timeout={timeout}"]
    for header in headers:
        args += ["-H", header]
    cpu_before = cpu_seconds(pid) if pid else None
    out = sh(*args, url(path))
    cpu = cpu_seconds(pid) - cpu_before if pid else None
    latency = {p: float(v) * UNIT[u] for p, v, u in LATENCY.findall(out)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "requests": requests,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "cpu_us": cpu * 1e6 / requests if cpu is not None and requests else None,
    }


def median_run(runs):
    """The run with the median req/s (its own latencies and CPU kept together),
    plus the errors of every run, so no round's failures are hidden."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["rounds"] = [r["rps"] for r in runs]
    chosen["requests"] = sum(r["requests"] for r in runs)
    chosen["non2xx"] = sum(r["non2xx"] for r in runs)
    chosen["socket_errors"] = sum(r["socket_errors"] for r in runs)
    cpu = [r["cpu_us"] for r in runs if r["cpu_us"] is not None]
    chosen["cpu_us"] = statistics.median(cpu) if cpu else None
    return chosen


def errors(result, expect_success=True):
    unexpected = result["non2xx"] if expect_success else result["requests"] - result["non2xx"]
    return unexpected + result["socket_errors"]


LOAD_BEFORE = os.getloadavg()[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--binary", type=Path,
                        help="benchmark this tokengate binary (built with --features "
                             "bench-routes) instead of building the release one")
    parser.add_argument("--floods-only", action="store_true",
                        help="only /login and /access alone and beside each other's floods "
                             "(implies --no-write)")
    args = parser.parse_args()
    args.no_write |= args.floods_only

    ensure_wrk()
    global BINARY
    if args.binary:
        BINARY = args.binary.resolve()
    else:
        subprocess.run(BUILD, cwd=ROOT, check=True)
    cores = os.cpu_count()
    d, c = args.duration, args.connections

    with tempfile.TemporaryDirectory() as workdir:
        server = Server(Path(workdir))
        pid = server.process.pid
        try:
            token = login_token()
            bearer = f"Authorization: Bearer {token}"
            forged = f"Authorization: Bearer {token[:-2]}xx"
            login_headers = [f"Authorization: {basic_header()}", "Accept: application/json"]
            scenarios = [
                # The same request as /access, token header included: the
                # ratio then prices checking the token, not receiving it.
                ("bare route (no auth)", "/bare", [bearer], True),
                ("/access valid token", "/access", [bearer], True),
                ("/access invalid token", "/access", [forged], False),
            ]
            if path_exists("/auth/verify"):
                scenarios.append(("/auth/verify valid token", "/auth/verify", [bearer], True))
            if args.floods_only:
                scenarios = [s for s in scenarios if s[0] == "/access valid token"]
            runs = {name: [] for name, *_ in scenarios}
            runs["/access during login flood"] = []
            flood_outputs = []
            runs["/login"] = []
            runs[LOGIN_DURING_FLOOD] = []
            token_flood_outputs = []
            wrk("/bare", connections=c, duration=2)  # warm-up
            for _ in range(args.rounds):
                runs["/login"].append(
                    wrk("/login", login_headers, connections=cores * 2, duration=d, pid=pid))
                for name, path, headers, _ in scenarios:
                    runs[name].append(wrk(path, headers, connections=c, duration=d, pid=pid))
                # /login, with the same connections as alone, while two wrk
                # processes of 64 connections each send forged tokens to
                # /access: both cores busy with requests that cost the
                # sender nothing (issue #18).
                floods = [subprocess.Popen(
                    ["wrk", "-t1", "-c64", f"-d{d + 3}s", "--timeout=30s",
                     "-H", forged, url("/access")],
                    stdout=subprocess.PIPE, text=True) for _ in range(2)]
                time.sleep(2)
                runs[LOGIN_DURING_FLOOD].append(
                    wrk("/login", login_headers, connections=cores * 2, duration=d,
                        timeout="30s"))
                token_flood_outputs += [flood.communicate()[0] for flood in floods]
                # /access while 64 connections flood /login.
                flood = subprocess.Popen(
                    ["wrk", "-t1", "-c64", f"-d{d + 3}s", "--latency", "--timeout=30s",
                     *sum((["-H", h] for h in login_headers), []), url("/login")],
                    stdout=subprocess.PIPE, text=True)
                time.sleep(2)
                runs["/access during login flood"].append(
                    wrk("/access", [bearer], connections=c, duration=d))
                flood_outputs.append(flood.communicate()[0])
                # Checks the flood left queued drain before the next /login run.
                time.sleep(3)
        finally:
            peak_rss_kib = server.stop()

    expect_success = {name: ok for name, _, _, ok in scenarios}
    rows = {name: (median_run(r), expect_success.get(name, True)) for name, r in runs.items()}
    flood_non2xx = sum(int(m.group(1)) for out in flood_outputs
                       for m in [re.search(r"Non-2xx or 3xx responses: (\d+)", out)] if m)
    flood_errors = [m.group(0) for out in flood_outputs
                    for m in [re.search(r"Socket errors: .*", out)] if m]
    token_flood_rps = statistics.median(
        float(m.group(1)) for out in token_flood_outputs
        for m in [re.search(r"Requests/sec:\s+([\d.]+)", out)] if m) * 2
    if args.floods_only:
        print(render_floods(rows, token_flood_rps))
        return
    verify_ms = password_verify_ms()
    table = render(rows, server, peak_rss_kib, verify_ms, cores, d, c, args.rounds,
                   "; ".join(flood_errors) or "none", flood_non2xx, token_flood_rps)
    print(table)
    if not args.no_write:
        write_benchmarks(table)


def password_verify_ms():
    """One argon2id verification at the parameters tokengate writes, from criterion's estimate."""
    estimate = ROOT / "target/criterion/password_verify/argon2id_default/new/estimates.json"
    subprocess.run(["cargo", "bench", "--bench", "passwords", "--", "argon2id_default"],
                   cwd=ROOT, check=True, capture_output=True)
    return json.loads(estimate.read_text())["mean"]["point_estimate"] / 1e6


LOGIN_DURING_FLOOD = "/login during invalid-token flood"


def flood_checks(rows):
    """The two directions of issue #18: each class keeps its service while the other floods."""
    valid = rows["/access valid token"][0]
    flood = rows["/access during login flood"][0]
    login = rows["/login"][0]
    login_flooded = rows[LOGIN_DURING_FLOOD][0]
    return [
        ("/access p99 during flood ÷ p99 without", flood["p99"] / valid["p99"], "≤ 3"),
        ("/login req/s during invalid-token flood ÷ alone", login_flooded["rps"] / login["rps"],
         "≥ 0.25"),
        ("/login p99 during invalid-token flood, ms", login_flooded["p99"], "≤ 1000"),
    ]


def render_floods(rows, token_flood_rps):
    lines = ["| scenario | each round req/s | p50 ms | p99 ms | errors |", "|---|---|---:|---:|---:|"]
    for name, (r, expect_success) in rows.items():
        each = " / ".join(f"{rps:.0f}" for rps in r["rounds"])
        lines.append(f"| {name} | {each} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{errors(r, expect_success)} |")
    lines += ["", "| ratio | value | target |", "|---|---:|---|"]
    lines += [f"| {name} | {value:.2f} | {target} |" for name, value, target in flood_checks(rows)]
    lines.append(f"\nInvalid-token flood: {token_flood_rps:.0f} answers/s (median round, both wrk).")
    return "\n".join(lines)


def render(rows, server, peak_rss_kib, verify_ms, cores, d, c, rounds, flood_errors,
           flood_non2xx, token_flood_rps):
    bare = rows["bare route (no auth)"][0]
    valid = rows["/access valid token"][0]
    invalid = rows["/access invalid token"][0]
    login = rows["/login"][0]
    lines = [
        "| scenario | req/s (median) | each round | p50 ms | p99 ms | service CPU µs/req | errors |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, (r, expect_success) in rows.items():
        each = " / ".join(f"{rps:.0f}" for rps in r["rounds"])
        cpu = f"{r['cpu_us']:.1f}" if r["cpu_us"] is not None else "–"
        lines.append(f"| {name} | {r['rps']:.0f} | {each} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{cpu} | {errors(r, expect_success)} |")
    login_target = 0.8 * cores / (verify_ms / 1000)
    checks = [
        ("/access valid ÷ bare route req/s", valid["rps"] / bare["rps"], "≥ 0.9"),
        ("/access invalid ÷ valid req/s", invalid["rps"] / valid["rps"], "≥ 1.0"),
        *flood_checks(rows),
        (f"/login req/s ÷ (cores ÷ {verify_ms:.1f} ms verify)", login["rps"] / (login_target / 0.8),
         "≥ 0.8"),
    ]
    lines += ["", "| ratio | value | target |", "|---|---:|---|"]
    lines += [f"| {name} | {value:.2f} | {target} |" for name, value, target in checks]
    lines.append(f"| (for reading) bare route ÷ /access valid, service CPU per request | "
                 f"{bare['cpu_us'] / valid['cpu_us']:.2f} | |")
    lines += [
        "",
        "| resource | value | target |",
        "|---|---:|---|",
        f"| idle RSS | {server.idle_rss_kib / 1024:.1f} MB | ≤ 15 MB |",
        f"| peak RSS | {peak_rss_kib / 1024:.1f} MB | |",
        f"| start to first /healthz 200 | {server.ready_ms:.0f} ms | ≤ 100 ms |",
        "",
        f"Login flood (64 connections on /login beside each /access run): "
        f"non-2xx {flood_non2xx}, socket errors: {flood_errors}. "
        f"Invalid-token flood (two wrk, 64 connections each, forged tokens on /access, "
        f"beside the flooded /login run): {token_flood_rps:.0f} answers/s (median round).",
        f"wrk: 1 thread, {c} connections, {d} s per scenario, {rounds} alternating rounds "
        f"(the median round shown; /login with {cores * 2} connections); "
        f"the bare route gets the same Authorization header as /access; "
        f"one password verification (argon2id, default parameters): {verify_ms:.1f} ms.",
    ]
    return "\n".join(lines)


def write_benchmarks(table):
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else ""
    marker_start, marker_end = "<!-- load:start -->", "<!-- load:end -->"
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    block = "\n".join([
        marker_start,
        f"Run on {datetime.date.today().isoformat()}: {os.cpu_count()} cores ({cpu}), "
        f"{platform.system()} {platform.release()}, wrk on the same machine, "
        f"load average before the run {LOAD_BEFORE:.2f}. "
        f"Command: `{' '.join(['bench/load.py', *sys.argv[1:]])}`.",
        "",
        table,
        marker_end,
    ])
    if marker_start in text:
        text = re.sub(re.escape(marker_start) + ".*?" + re.escape(marker_end), lambda _: block,
                      text, flags=re.S)
    else:
        text += ("\n" if text else "") + block + "\n"
    path.write_text(text)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
