#!/usr/bin/env python3
"""Side by side: tokengate against a bare actix-web route and the peers a
user would otherwise pick, on this machine, with the same HMAC secret and
the same token (HS256, iss/aud "tokengate", typ at+jwt):

- bare actix-web 4 (bench/peers/bare_actix.rs): a static JSON route, and the
  same plus a jsonwebtoken verify, no middleware;
- tokengate (release build): /healthz, /access, /auth/verify; and again with
  the Redis session store (a private redis-server, persistence off), whose
  replicas check revocations from memory kept current by Redis;
- fastify 5 + @fastify/jwt on a node cluster of 2 (bench/peers/fastify);
- the seed's Flask + PyJWT app and Flask-JWT-Extended, gunicorn -w 2
  (bench/peers/flask_app.py).

Every server runs for the whole run; each round drives every route once with
wrk (alternating, so drift lands on all of them), and the table gives each
route's median req/s and the server's CPU per request (utime + stime of its
whole process tree, from /proc). The ratios are given both ways: req/s, and
server CPU per request (the peer's ÷ tokengate's, so higher is better for
tokengate in both); wrk shares the cores, so its own cost per request sits
in every req/s figure and pulls those ratios toward 1. Writes the table into
BENCHMARKS.md between the peers markers.

Usage: bench/peers.py [--rounds 5] [--duration 8] [--connections 32]
       bench/peers.py --smoke   # CI: debug builds, one short round, skips
                                # absent peers, writes nothing
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (wrk, /proc readers, the bench user and secret)
import sessions  # noqa: E402  (its private redis-server and readiness check)

ROOT = load.ROOT
PEERS = Path(__file__).resolve().parent / "peers"
PORTS = iter(range(22090, 22100))


def mint_token():
    """A token every server accepts, minted here (PyJWT) rather than by tokengate."""
    import jwt

    now = int(time.time())
    # tokengate refuses a token without a session id (a UUIDv7 whose first
    # 48 bits are the session's start in ms); the peers ignore the claim.
    sid = uuid.UUID(int=(int(time.time() * 1000) << 80) | (0x7 << 76) | (2 << 62))
    claims = {"sub": load.USER, "sid": str(sid), "iat": now, "nbf": now, "exp": now + 3600,
              "jti": "peers-bench", "iss": "tokengate", "aud": "tokengate"}
    return jwt.encode(claims, load.SECRET, algorithm="HS256", headers={"typ": "at+jwt"})


def tree_cpu_seconds(pid):
    """CPU time of pid and every descendant (gunicorn and node workers)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += load.cpu_seconds(current)
        except OSError:
            continue
        todo += children.get(current, [])
    return total


class Peer:
    """One server process (tree) and the routes to drive on it."""

    def __init__(self, name, command, routes, env=None, cwd=ROOT, companion=None):
        self.name, self.routes, self.companion = name, routes, companion
        self.port = next(PORTS)
        command = [part.replace("{port}", str(self.port)) for part in command]
        env = {key: value.replace("{port}", str(self.port)) for key, value in (env or {}).items()}
        self.process = subprocess.Popen(
            command, cwd=cwd, env={**os.environ, **env, "PORT": str(self.port)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        probe = routes[0][1]
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(
                    self.url("/healthz" if name.startswith("tokengate") else probe), timeout=1)
                break
            except urllib.error.HTTPError:
                break  # answering, if with 401
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{name} did not start")
                time.sleep(0.1)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.companion:
            self.companion.stop()


def drive(peer, path, headers, args):
    before = tree_cpu_seconds(peer.process.pid)
    out = load.sh("wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
                  *sum((["-H", h] for h in headers), []), peer.url(path))
    cpu = tree_cpu_seconds(peer.process.pid) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "cpu_us": cpu * 1e6 / max(requests, 1),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def start_peers(args, workdir, token):
    """Every server, started in turn; any that fails stops the ones before it."""
    started = []
    try:
        return start_each(args, workdir, token, started)
    except BaseException:
        for peer in started:
            peer.stop()
        raise


def start_each(args, workdir, token, peers):
    profile = "debug" if args.smoke else "release"
    build = ["cargo", "build", "--quiet", "--bin", "tokengate", "--example", "bare_actix"]
    subprocess.run(build + ([] if args.smoke else ["--release"]), cwd=ROOT, check=True)
    bearer = [f"Authorization: Bearer {token}"]
    secret = {"PEERS_SECRET": load.SECRET}
    skipped = []
    binary = ROOT / "target" / profile
    peers.append(Peer("bare actix-web", [str(binary / "examples" / "bare_actix"), "{port}",
                                         load.SECRET],
                      [("static", "/static", bearer), ("+ jsonwebtoken verify", "/verify", bearer)]))
    load.BINARY = binary / "tokengate"  # bench_env writes the users file with it
    env = load.bench_env(workdir, "{port}")
    env = {key: value for key, value in env.items() if key.startswith(("TOKENGATE", "RUST"))}
    peers.append(Peer("tokengate", [str(load.BINARY)],
                      [("/healthz", "/healthz", bearer), ("/access", "/access", bearer),
                       ("/auth/verify", "/auth/verify", bearer)], env=env))
    if shutil.which("redis-server"):
        redis = sessions.Redis()
        try:
            shared = Peer("tokengate, Redis store", [str(load.BINARY)],
                          [("/access", "/access", bearer), ("/auth/verify", "/auth/verify", bearer)],
                          env={**env, "TOKENGATE__SESSIONS__STORE": redis.url}, companion=redis)
        except BaseException:
            redis.stop()
            raise
        peers.append(shared)
        deadline = time.monotonic() + 15
        while not sessions.is_synced(shared.url("/readyz")):
            if time.monotonic() > deadline:
                raise RuntimeError("tokengate never synced with its redis-server")
            time.sleep(0.1)
    else:
        skipped.append("tokengate with the Redis store (apt install redis-server)")
    fastify = PEERS / "fastify"
    if shutil.which("node") and (fastify / "node_modules").is_dir():
        peers.append(Peer("fastify + @fastify/jwt, cluster of 2", ["node", "server.js"],
                          [("verify", "/verify", bearer)], env=secret, cwd=fastify))
    else:
        skipped.append("fastify (run `npm install` in bench/peers/fastify)")
    try:
        import flask_jwt_extended  # noqa: F401
        have_flask = shutil.which("gunicorn") is not None
    except ImportError:
        have_flask = False
    if have_flask:
        for app, label in (("seed", "seed Flask + PyJWT"), ("extended", "Flask-JWT-Extended")):
            peers.append(Peer(f"{label}, gunicorn -w 2",
                              ["gunicorn", "-w", "2", "--chdir", str(PEERS),
                               "-b", "127.0.0.1:{port}", f"flask_app:{app}"],
                              [("verify", "/verify", bearer)], env=secret))
    else:
        skipped.append("Flask peers (pip install flask-jwt-extended gunicorn)")
    return peers, skipped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.duration = 1, 1
    load.ensure_wrk()
    token = mint_token()
    with tempfile.TemporaryDirectory() as workdir:
        peers, skipped = start_peers(args, Path(workdir), token)
        try:
            results = {(p.name, r[0]): [] for p in peers for r in p.routes}
            for _ in range(args.rounds):
                for peer in peers:
                    for label, path, headers in peer.routes:
                        results[(peer.name, label)].append(drive(peer, path, headers, args))
        finally:
            for peer in peers:
                peer.stop()
    table = render(results, args, skipped)
    print(table)
    bad = [key for key, runs in results.items() if any(r["errors"] for r in runs)]
    if bad:
        sys.exit(f"non-2xx answers from {bad}: the token or secret is not shared")
    if not args.smoke:
        write(table)


def render(results, args, skipped):
    rows = {}
    for key, runs in results.items():
        rows[key] = (statistics.median(r["rps"] for r in runs),
                     statistics.median(r["cpu_us"] for r in runs),
                     [r["rps"] for r in runs])
    lines = ["| server | route | req/s (median) | each round | server CPU µs/req |",
             "|---|---|---:|---|---:|"]
    for (name, route), (rps, cpu, each) in rows.items():
        lines.append(f"| {name} | {route} | {rps:.0f} | {' / '.join(f'{x:.0f}' for x in each)} "
                     f"| {cpu:.1f} |")
    # req/s ratios carry wrk's own cost (it shares the two cores), which
    # pulls every ratio toward 1; the CPU ratios compare the servers alone.
    ratio_lines = ["", "| ratio (same run) | req/s | server CPU per request | target |",
                   "|---|---:|---:|---|"]
    static = rows.get(("bare actix-web", "static"))
    fastify = next((v for (name, _), v in rows.items() if name.startswith("fastify")), None)
    for server in ("tokengate", "tokengate, Redis store"):
        for route in ("/access", "/auth/verify"):
            ours = rows.get((server, route))
            for peer, label, target in ((static, "bare actix-web static", "≥ 0.95"),
                                        (fastify, "fastify + @fastify/jwt", "≥ 3")):
                if ours and peer:
                    ratio_lines.append(f"| {server} {route} ÷ {label} | {ours[0] / peer[0]:.2f} "
                                       f"| {peer[1] / ours[1]:.2f} | {target} |")
    lines += ratio_lines
    lines += ["", f"wrk -t1 -c{args.connections} -d{args.duration}s per route, {args.rounds} "
              f"alternating rounds, every server running throughout; {os.cpu_count()} cores "
              f"shared with wrk; load average before the run {load.LOAD_BEFORE:.2f}."]
    if skipped:
        lines.append("Skipped: " + "; ".join(skipped) + ".")
    return "\n".join(lines)


def write(table):
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start, end = "<!-- peers:start -->", "<!-- peers:end -->"
    block = "\n".join([start, f"Command: `{' '.join(['bench/peers.py', *sys.argv[1:]])}`.", "",
                       table, end])
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text += "\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
