#!/usr/bin/env python3
"""How tokengate's cost grows with the work (issue #16, item 4), one run:

- keys: three servers with 1, 10 and 100 HMAC keys in the key set (the
  signing key last, so the `kid` lookup walks the whole list), /access in
  alternating rounds, median req/s, ratio to the 1-key server;
- users file: 1,000 and 100,000 entries (one argon2id hash repeated under
  distinct names: parsing, not hashing, is what grows): time from start to
  the first /healthz 200, SIGHUP reload time (from the server's own log
  line), RSS idle after start;
- idle connections: 10,000 keep-alive connections that each sent one
  /healthz and then wait (the server closes idle ones after its 5 s
  keep-alive, so the measurement runs inside that window): RSS per
  connection, and /access p99 beside them against without.

- ended sessions: three servers on one Redis (a database each) holding 0,
  10,000 and 1,000,000 revoked session ids, loaded before start so each
  replica's resync reads them all into its in-memory revocation state:
  start to synced, RSS per entry, /access in alternating rounds.

Prints Markdown; --write puts it into BENCHMARKS.md between the
scaling markers. --smoke: debug build, tiny sizes, nothing written (CI).

Usage: bench/scaling.py [--rounds 3] [--duration 5] [--write] [--smoke]
"""

import argparse
import os
import re
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402
import sessions  # noqa: E402  (its private redis-server and readiness check)

ROOT = load.ROOT


class Tokengate:
    def __init__(self, workdir, port, config=None, users=None, **settings):
        self.port = port
        env = load.bench_env(workdir, port, **settings)
        env["RUST_LOG"] = "warn,tokengate=info"
        if users:
            env["TOKENGATE__USERS__FILE"] = str(users)
        args = [str(load.BINARY)]
        if config:
            args += ["--config-dir", str(config)]
        self.log = open(workdir / f"server-{port}.log", "w+")
        started = time.perf_counter()
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stderr=self.log,
                                        stdout=subprocess.DEVNULL)
        while not self.healthy():
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"tokengate exited: {self.log.read()[-2000:]}")
            time.sleep(0.005)
        self.ready_ms = (time.perf_counter() - started) * 1000

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def healthy(self):
        try:
            with urllib.request.urlopen(self.url("/healthz"), timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def rss_kib(self):
        return load.rss_kib(self.process.pid)

    def token(self):
        request = urllib.request.Request(self.url("/login"), headers={
            "Authorization": load.basic_header(), "Accept": "application/json"})
        with urllib.request.urlopen(request) as response:
            return __import__("json").load(response)["access_token"]

    def reload_ms(self):
        """SIGHUP, then the duration the server logs for the reload."""
        self.log.seek(0, os.SEEK_END)
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.log.seek(0)
            found = re.findall(r"configuration reloaded in ([\d.]+)ms", self.log.read())
            if found:
                return float(found[-1])
            time.sleep(0.05)
        raise RuntimeError("no reload logged")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def key_config(workdir, count):
    config = workdir / f"keys-{count}"
    config.mkdir()
    lines = ['[jwt]', f'signing_key = "k{count - 1}"']
    for index in range(count):
        lines += ['[[jwt.keys]]', f'kid = "k{index}"', 'algorithm = "HS256"',
                  f'secret = "{load.SECRET}-{index:04}"']
    (config / "default.toml").write_text("\n".join(lines) + "\n")
    return config


def users_file(workdir, count):
    """count entries, all with the bench user's one real hash."""
    path = workdir / f"users-{count}"
    real = load.sh(str(load.BINARY), "hash-password", "--user", load.USER,
                   input=load.PASSWORD + "\n").strip()
    hashed = real.split(":", 1)[1]
    with path.open("w") as f:
        f.write(real + "\n")
        for index in range(count - 1):
            f.write(f"user{index:07}:{hashed}\n")
    return path


def access_rounds(servers, args):
    """/access on each server in turn, args.rounds times: each server's runs."""
    tokens = {name: server.token() for name, server in servers.items()}
    runs = {name: [] for name in servers}
    for _ in range(args.rounds):
        for name, server in servers.items():
            load.PORT = server.port
            runs[name].append(load.wrk("/access", [f"Authorization: Bearer {tokens[name]}"],
                                       connections=32, duration=args.duration,
                                       pid=server.process.pid))
    return runs


def medians(rounds):
    """Median req/s, median CPU µs per request, and every round's req/s."""
    return (statistics.median(r["rps"] for r in rounds),
            statistics.median(r["cpu_us"] for r in rounds),
            " / ".join(f"{r['rps']:.0f}" for r in rounds))


def keys_scaling(workdir, args, port):
    servers = {}
    try:
        for count in args.key_counts:
            servers[count] = Tokengate(workdir, port + count % 97, config=key_config(workdir, count))
        runs = access_rounds(servers, args)
    finally:
        for server in servers.values():
            server.stop()
    base = statistics.median(r["rps"] for r in runs[args.key_counts[0]])
    lines = ["| keys in the set | /access req/s (median) | each round | CPU µs/req | ÷ 1 key |",
             "|---:|---:|---|---:|---:|"]
    for count, rounds in runs.items():
        rps, cpu, each = medians(rounds)
        lines.append(f"| {count} | {rps:.0f} | {each} | {cpu:.1f} | {rps / base:.2f} |")
    return lines


def users_scaling(workdir, args, port):
    lines = ["| users file entries | file size | start to first /healthz 200 | SIGHUP reload | "
             "idle RSS |", "|---:|---:|---:|---:|---:|"]
    for count in args.user_counts:
        users = users_file(workdir, count)
        server = Tokengate(workdir, port, users=users)
        try:
            time.sleep(1)
            rss = server.rss_kib()
            reload = statistics.median(server.reload_ms() for _ in range(3))
        finally:
            server.stop()
        lines.append(f"| {count:,} | {users.stat().st_size / 1e6:.1f} MB | "
                     f"{server.ready_ms:.0f} ms | {reload:.1f} ms | {rss / 1024:.1f} MB |")
    return lines


def open_idle_connections(port, count):
    """count keep-alive connections, each answered once, left open."""
    selector = selectors.DefaultSelector()
    sockets, answered = [], 0
    request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
        sockets.append(s)
    deadline = time.monotonic() + 30
    while answered < count and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            key.fileobj.recv(4096)
            selector.unregister(key.fileobj)
            answered += 1
    return sockets, answered


def connections_scaling(workdir, args, port):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = Tokengate(workdir, port)
    try:
        load.PORT = port
        bearer = [f"Authorization: Bearer {server.token()}"]
        quiet = load.wrk("/access", bearer, connections=32, duration=3)
        before = server.rss_kib()
        started = time.monotonic()
        sockets, answered = open_idle_connections(port, args.connections)
        opened_in = time.monotonic() - started
        with_idle = server.rss_kib()
        beside = load.wrk("/access", bearer, connections=32, duration=3)
        for s in sockets:
            s.close()
    finally:
        server.stop()
    per_connection = (with_idle - before) * 1024 / max(answered, 1)
    return [
        "| idle keep-alive connections | RSS | /access req/s beside | /access p99 beside |",
        "|---:|---:|---:|---:|",
        f"| 0 | {before / 1024:.1f} MB | {quiet['rps']:.0f} | {quiet['p99']:.2f} ms |",
        f"| {answered:,} (opened in {opened_in:.1f} s) | {with_idle / 1024:.1f} MB "
        f"({per_connection / 1024:.1f} KiB each) | {beside['rps']:.0f} | {beside['p99']:.2f} ms |",
    ]


def load_revoked(redis_port, db, count):
    """count `revoked:` records, as END_SESSION writes them, via redis-cli --pipe."""
    if count == 0:
        return
    until = int(time.time()) + 3600
    commands = []
    for index in range(count):
        sid = f"00000000-0000-7000-8000-{index:012x}"
        parts = [b"SET", f"tokengate:revoked:{sid}".encode(), b"1", b"EXAT", str(until).encode()]
        commands.append(b"*5\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
    subprocess.run(["redis-cli", "-p", str(redis_port), "-n", str(db), "--pipe"],
                   input=b"".join(commands), check=True, stdout=subprocess.DEVNULL)


def wait_synced(server, deadline_s=300):
    deadline = time.monotonic() + deadline_s
    while not sessions.is_synced(server.url("/readyz")):
        if time.monotonic() > deadline:
            raise RuntimeError(f"tokengate on {server.port} never synced")
        time.sleep(0.05)


def revoked_scaling(workdir, args, port):
    redis = sessions.Redis()
    servers, synced_s, rss = {}, {}, {}
    try:
        for db, count in enumerate(args.revoked_counts):
            load_revoked(redis.port, db, count)
            started = time.monotonic()
            server = Tokengate(workdir, port + db,
                               sessions__store=f"redis://127.0.0.1:{redis.port}/{db}",
                               server__instance_id=f"revoked-{count}")
            servers[count] = server
            wait_synced(server)
            synced_s[count] = time.monotonic() - started
            time.sleep(1)
            rss[count] = server.rss_kib()
        runs = access_rounds(servers, args)
    finally:
        for server in servers.values():
            server.stop()
        redis.stop()
    smallest = args.revoked_counts[0]
    base = statistics.median(r["rps"] for r in runs[smallest])
    lines = ["| ended sessions held | start to synced | RSS | /access req/s (median) | each round "
             "| CPU µs/req | ÷ none |", "|---:|---:|---:|---:|---|---:|---:|"]
    for count, rounds in runs.items():
        rps, cpu, each = medians(rounds)
        extra = (rss[count] - rss[smallest]) * 1024 / count if count else 0
        per_entry = f" ({extra:.0f} B each)" if count else ""
        lines.append(f"| {count:,} | {synced_s[count]:.1f} s | {rss[count] / 1024:.1f} MB"
                     f"{per_entry} | {rps:.0f} | {each} | {cpu:.1f} | {rps / base:.2f} |")
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    args.key_counts, args.user_counts = [1, 10, 100], [1_000, 100_000]
    args.revoked_counts = [0, 10_000, 1_000_000]
    if args.smoke:
        args.rounds, args.duration, args.connections = 1, 1, 50
        args.key_counts, args.user_counts, args.revoked_counts = [1, 3], [10], [0, 100]
        load.BINARY = ROOT / "target" / "debug" / "tokengate"
        subprocess.run(["cargo", "build", "--quiet", "--bin", "tokengate"], cwd=ROOT, check=True)
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tokengate"], cwd=ROOT,
                       check=True)
    load.ensure_wrk()
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        lines = keys_scaling(workdir, args, 22110)
        lines += [""] + users_scaling(workdir, args, 22120)
        lines += [""] + connections_scaling(workdir, args, 22121)
        lines += [""] + revoked_scaling(workdir, args, 22130)
    lines += ["", f"{os.cpu_count()} cores shared with wrk and the client; load average before "
              f"the run {load.LOAD_BEFORE:.2f}; wrk -t1 -c32, {args.duration} s, {args.rounds} "
              f"alternating rounds for the key and ended-session rows."]
    table = "\n".join(lines)
    print(table)
    if args.write and not args.smoke:
        path = ROOT / "BENCHMARKS.md"
        start, end = "<!-- scaling:start -->", "<!-- scaling:end -->"
        block = "\n".join([start, f"Command: `{' '.join(['bench/scaling.py', *sys.argv[1:]])}`.",
                           "", table, end])
        text = path.read_text()
        if start in text:
            text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text,
                          flags=re.S)
        else:
            text += "\n" + block + "\n"
        path.write_text(text)


if __name__ == "__main__":
    main()
