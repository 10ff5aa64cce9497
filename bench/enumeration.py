#!/usr/bin/env python3
"""Timing benchmark: does a wrong password tell which users exist?

One tokengate (the release build, bench/load.py's environment) with a users
file holding one user per hash shape: argon2id as `tokengate hash-password`
writes it, argon2id with heavier parameters, bcrypt at cost 5 (`htpasswd -B`'s
default) and at cost 10. Wrong-password logins for each of them and for a
name that is not in the file are sent one at a time, the classes interleaved
(so machine noise falls on all alike), and the time to the 401 is taken per
request. A class whose median differs from the unknown name's tells an
attacker the user exists (SECURITY.md, "Enumeration").

Hashes come from the PyPI packages bcrypt and argon2-cffi (installed if
missing). Prints a Markdown table and writes it into BENCHMARKS.md between
the `<!-- enumeration:start -->` and `<!-- enumeration:end -->` markers.
Usage: bench/enumeration.py [--samples 40] [--no-write]
"""

import argparse
import base64
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (bench_env, healthz_ok, BINARY, PORT)

WRONG = "not-the-password"


def ensure_hashers():
    try:
        import argon2  # noqa: F401
        import bcrypt  # noqa: F401
    except ImportError:
        print("installing bcrypt and argon2-cffi from PyPI", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "bcrypt", "argon2-cffi"], check=True)


def users_file(path):
    """One line per hash shape; returns the user names by class."""
    import argon2
    import bcrypt

    password = b"the-right-password"
    default = load.sh(str(load.BINARY), "hash-password", "--user", "argon2id-default",
                      input=password.decode() + "\n")
    heavy = argon2.PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1).hash(password)
    lines = [
        default.strip(),
        f"argon2id-heavy:{heavy}",
        f"bcrypt-5:{bcrypt.hashpw(password, bcrypt.gensalt(5)).decode()}",
        f"bcrypt-10:{bcrypt.hashpw(password, bcrypt.gensalt(10)).decode()}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return {
        "unknown name": "nobody-here",
        "argon2id, hash-password's parameters": "argon2id-default",
        "argon2id, m=64 MiB t=3": "argon2id-heavy",
        "bcrypt cost 5": "bcrypt-5",
        "bcrypt cost 10": "bcrypt-10",
    }


def wrong_login_ms(user):
    basic = base64.b64encode(f"{user}:{WRONG}".encode()).decode()
    request = urllib.request.Request(load.url("/login"), headers={
        "Authorization": f"Basic {basic}", "Accept": "application/json"})
    started = time.perf_counter()
    try:
        urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as error:
        elapsed = (time.perf_counter() - started) * 1000
        if error.code != 401:
            raise RuntimeError(f"{user}: expected 401, got {error.code}")
        return elapsed
    raise RuntimeError(f"{user}: a wrong password logged in")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    ensure_hashers()
    if not load.BINARY.exists():
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tokengate"],
                       cwd=load.ROOT, check=True)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = load.bench_env(workdir, load.PORT)
        classes = users_file(Path(env["TOKENGATE__USERS__FILE"]))
        # Production's start-up warning about the weak bcrypt-5 hash is expected.
        server = subprocess.Popen([str(load.BINARY)], cwd=load.ROOT, env=env,
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not load.healthz_ok():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tokengate did not start")
                time.sleep(0.02)
            for user in classes.values():
                wrong_login_ms(user)  # warm-up: first touch of each path
            samples = {name: [] for name in classes}
            for _ in range(args.samples):
                for name, user in classes.items():
                    samples[name].append(wrong_login_ms(user))
        finally:
            server.terminate()
            server.wait(timeout=40)

    unknown = statistics.median(samples["unknown name"])
    rows = [
        "| user | median | p10 | p90 | median ÷ unknown name |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, times in samples.items():
        deciles = statistics.quantiles(times, n=10)
        median = statistics.median(times)
        rows.append(f"| {name} | {median:.1f} ms | {deciles[0]:.1f} ms | {deciles[-1]:.1f} ms "
                    f"| {median / unknown:.2f} |")
    block = "\n".join([
        "<!-- enumeration:start -->",
        f"Run on {datetime.date.today().isoformat()}, release build, {args.samples} wrong-password "
        f"logins per class, interleaved, one at a time; load average before the run "
        f"{os.getloadavg()[0]:.2f}. Command: `bench/enumeration.py --samples {args.samples}`.",
        "",
        *rows,
        "<!-- enumeration:end -->",
    ])
    print(block)
    if not args.no_write:
        path = load.ROOT / "BENCHMARKS.md"
        text = path.read_text()
        if "<!-- enumeration:start -->" in text:
            text = re.sub(r"<!-- enumeration:start -->.*?<!-- enumeration:end -->",
                          lambda _: block, text, flags=re.S)
        else:
            text += "\n## Wrong passwords cost the same for every user (issue #12)\n\n" + block + "\n"
        path.write_text(text)
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
