"""Three tokengate replicas behind real nginx.

Three ways to run them:
- processes of the debug binary on loopback (the default, for quick local
  runs), nginx running deploy/nginx.conf with only its addresses swapped for
  loopback ones;
- with TOKENGATE_E2E_IMAGE set, containers of that image on the host network,
  the same nginx on loopback;
- with TOKENGATE_E2E_COMPOSE naming a compose file as well, the deployment
  that file describes, already up (`docker-compose up -d`, as the README's
  quick start does): nginx is reached on its published port
  (TOKENGATE_E2E_URL), the replicas directly on their container addresses,
  and the user is the quick start's (TOKENGATE_E2E_USER,
  TOKENGATE_E2E_PASSWORD). .ci/docker-e2e runs the last two.
"""

import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("TOKENGATE_E2E_IMAGE")
DOCKER = os.environ.get("DOCKER", "docker")
COMPOSE_FILE = os.environ.get("TOKENGATE_E2E_COMPOSE")
COMPOSE = os.environ.get("COMPOSE", "docker-compose").split()
BINARY = Path(os.environ.get("TOKENGATE_BIN", REPO / "target" / "debug" / "tokengate"))
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")

USER = os.environ.get("TOKENGATE_E2E_USER", "alice")
PASSWORD = os.environ.get("TOKENGATE_E2E_PASSWORD", "e2e password")
# In no group, unlike USER (an admin): the role-protected location refuses them.
OTHER_USER = "bob"
# Ports inside this suite's range (18000-18999).
REPLICA_PORTS = {"replica-a": 18101, "replica-b": 18102, "replica-c": 18103}
OUTSIDER_PORT = 18104
NGINX_PORT = 18180
BACKEND_PORT = 18181
REDIS_PORT = 18190
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
# The protected application in the suite: reports the headers nginx passed it.
ECHO_PORT = 18182

# Figures the suite measured, printed at the end of the run.
FIGURES: dict[str, object] = {}


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("load-balancer figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def answers(url):
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


class Replica:
    """One tokengate server on 127.0.0.1:port, as a process or a container."""

    def __init__(self, name, port, workdir, settings_file, secret_file, users_file):
        self.name = name
        # What docker commands call the container.
        self.ref = name
        self.host = "127.0.0.1"
        self.port = port
        self.workdir = workdir
        self.settings_file = settings_file
        self.secret_file = secret_file
        self.users_file = users_file
        self.url = f"http://127.0.0.1:{port}"
        self.process = None
        self.logfile = workdir / f"{name}.log"

    def start(self):
        env = {
            "TOKENGATE__SERVER__PORT": str(self.port),
            "TOKENGATE__SERVER__INSTANCE_ID": self.name,
        }
        if IMAGE:
            subprocess.run([DOCKER, "rm", "-f", self.name], capture_output=True)
            command = [DOCKER, "run", "--detach", "--name", self.name, "--network", "host"]
            for key, value in env.items():
                command += ["--env", f"{key}={value}"]
            command += [
                "--volume", f"{self.settings_file}:/app/config/local.toml:ro",
                "--volume", f"{self.users_file}:/etc/tokengate/users:ro",
                "--volume", f"{self.secret_file}:/run/secrets/jwt_secret:ro",
            ]
            # A missing bind source would be created as a directory.
            groups = self.users_file.parent / "groups"
            if groups.is_file():
                command += ["--volume", f"{groups}:/etc/tokengate/groups:ro"]
            command.append(IMAGE)
            subprocess.run(command, check=True, capture_output=True)
        else:
            config_dir = self.settings_file.parent
            log = open(self.logfile, "ab")
            self.process = subprocess.Popen(
                [str(BINARY), "serve"],
                cwd=self.workdir,
                env={**clean_environment(), **env, "TOKENGATE_CONFIG_DIR": str(config_dir)},
                stdout=log,
                stderr=log,
            )
        wait_until(lambda: answers(self.url + "/readyz"), 60, f"{self.name} to be ready")
        return self

    def signal(self, signum):
        if IMAGE:
            subprocess.run(
                [DOCKER, "kill", "--signal", signal.Signals(signum).name, self.ref],
                check=True,
                capture_output=True,
            )
        else:
            self.process.send_signal(signum)

    def is_running(self):
        if IMAGE:
            state = subprocess.run(
                [DOCKER, "inspect", "-f", "{{.State.Running}}", self.ref],
                capture_output=True,
                text=True,
            )
            return state.stdout.strip() == "true"
        return self.process.poll() is None

    def wait(self, timeout):
        """The exit status once stopped."""
        if IMAGE:
            waited = subprocess.run(
                [DOCKER, "wait", self.ref],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
            )
            return int(waited.stdout.strip())
        return self.process.wait(timeout)

    def log(self):
        if IMAGE:
            logs = subprocess.run([DOCKER, "logs", self.ref], capture_output=True, text=True)
            return logs.stdout + logs.stderr
        return self.logfile.read_text()

    def stop(self):
        if IMAGE:
            subprocess.run([DOCKER, "rm", "-f", self.name], capture_output=True)
        elif self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Redis:
    """The replicas' shared session store: Debian's redis-server on loopback,
    persistence off, started and killed by the suite (never the system one)."""

    def __init__(self, workdir):
        self.logfile = workdir / "redis.log"
        self.process = None

    def start(self):
        log = open(self.logfile, "ab")
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction",
            ],
            stdout=log,
            stderr=log,
        )
        wait_until(self.answers, 10, "redis-server to listen")
        return self

    def answers(self):
        import socket

        try:
            with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        """SIGKILL: what a crash looks like to the replicas."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self):
        self.kill()


class ComposeReplica(Replica):
    """A replica service of the compose deployment, reached on its container
    address (a Linux Docker host routes to its bridge networks)."""

    def __init__(self, service):
        self.name = service
        self.port = 8080
        self.process = None
        self.ref = compose("ps", "-q", service).stdout.strip()
        assert self.ref, f"compose has no container for {service}"
        self.locate()

    def locate(self):
        networks = json.loads(
            docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", self.ref)
        )
        ((self.host, self.gateway),) = [
            (network["IPAddress"], network["Gateway"]) for network in networks.values()
        ]
        self.url = f"http://{self.host}:{self.port}"

    def start(self):
        docker("start", self.ref)
        self.locate()
        wait_until(lambda: answers(self.url + "/readyz"), 60, f"{self.name} to be ready")
        return self

    def stop(self):
        docker("stop", "--time", "15", self.ref)


def docker(*args):
    return subprocess.run([DOCKER, *args], check=True, capture_output=True, text=True).stdout


def compose(*args, check=True):
    """docker-compose on the file under test; the project is named after the
    file's folder, as for a user running it from the repo root."""
    return subprocess.run(
        [*COMPOSE, "-f", COMPOSE_FILE, *args], check=check, capture_output=True, text=True
    )


def container_file(ref, path):
    """A file's text from a container without running anything in it (the
    image has no shell or cat): `docker cp` streams a tar."""
    archive = subprocess.run([DOCKER, "cp", f"{ref}:{path}", "-"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.next()
        return tar.extractfile(member).read().decode()


def clean_environment():
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TOKENGATE") and key != "RUST_LOG"
    }


def hash_password(user, password):
    """An htpasswd line from the same build the replicas run."""
    if IMAGE:
        command = [DOCKER, "run", "--rm", "-i", "--network", "host", IMAGE]
    else:
        command = [str(BINARY)]
    line = subprocess.run(
        command + ["hash-password", "--user", user],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert line.startswith(f"{user}:$argon2id$"), line
    return line


def login(url, user=USER, forwarded_for=None):
    """A JSON login; the token response.

    With Redis the strict per-user-and-address budget (burst 10) is one
    across the replicas, and the suite logs in more often than that, so each
    login comes from its own address where the replicas trust the caller.
    Behind compose's nginx, which the replicas trust instead, the address is
    the one nginx sees; there a 429 is waited out, as its Retry-After asks.
    """
    forwarded_for = forwarded_for or f"203.0.113.{secrets.randbelow(250) + 1}"
    headers = {"Accept": "application/json", "X-Forwarded-For": forwarded_for}
    for _ in range(4):
        response = requests.get(url + "/login", auth=(user, PASSWORD), headers=headers, timeout=10)
        if response.status_code != 429:
            break
        time.sleep(int(response.headers.get("Retry-After", "1")))
    assert response.status_code == 200, response.text
    return response.json()


def write_settings(workdir, name, secret_path, users_path, groups_path=None):
    """One config folder every replica reads: the repo's files plus local.toml,
    naming the secret, users and groups files where the replica sees them."""
    if IMAGE:
        secret_path, users_path = "/run/secrets/jwt_secret", "/etc/tokengate/users"
        # Only a replica given a groups file gets one (the compose users file
        # has none beside it).
        groups_path = "/etc/tokengate/groups" if groups_path else None
    config_dir = workdir / name
    config_dir.mkdir()
    for file in ("default.toml", "production.toml"):
        shutil.copy(REPO / "config" / file, config_dir / file)
    local = config_dir / "local.toml"
    local.write_text(
        "[server]\n"
        'host = "127.0.0.1"\n'
        "workers = 2\n"
        'drain_delay = "1s"\n'
        'shutdown_timeout = "10s"\n'
        'trusted_proxies = ["127.0.0.1"]\n'
        "[jwt]\n"
        f'secret_file = "{secret_path}"\n'
        "[users]\n"
        f'file = "{users_path}"\n'
        + (f'groups_file = "{groups_path}"\n' if groups_path else "")
        # Shared by every replica; a replayed refresh token is theft at once.
        + "[sessions]\n"
        f'store = "{REDIS_URL}"\n'
        'reuse_grace = "0s"\n'
        # Every test logs in as alice from 127.0.0.1 (nginx), and with Redis
        # the per-address budget and alice's ceiling are shared by the
        # replicas; the strict per-user-and-address limit keeps its default.
        "[limits]\n"
        "login_per_ip_per_minute = 600\n"
        "login_per_ip_burst = 300\n"
        "login_per_user_ceiling_per_minute = 6000\n"
        "login_per_user_ceiling_burst = 3000\n"
    )
    local.chmod(0o644)
    return local


def nginx_config(workdir):
    """deploy/nginx.conf with loopback addresses, inside a minimal main config."""
    site = (REPO / "deploy" / "nginx.conf").read_text()
    for index, port in enumerate(REPLICA_PORTS.values(), start=1):
        site = site.replace(f"server tokengate-{index}:8080", f"server 127.0.0.1:{port}")
    site = re.sub(r"listen 8080;", f"listen 127.0.0.1:{NGINX_PORT};", site)
    # /protected/ goes to the echo app instead of the shipped stand-in.
    site = site.replace("proxy_pass http://127.0.0.1:8081;", f"proxy_pass http://127.0.0.1:{ECHO_PORT};")
    site = site.replace("127.0.0.1:8081", f"127.0.0.1:{BACKEND_PORT}")
    assert "tokengate-" not in site.replace("tokengate_", ""), "an address was not substituted"
    nginx_dir = workdir / "nginx"
    nginx_dir.mkdir()
    assert "/var/log/nginx/access.log tokengate_noquery;" in site, "the shipped access log moved"
    site = site.replace("/var/log/nginx/access.log", f"{nginx_dir}/access.log")
    nginx_dir.chmod(0o777)
    (nginx_dir / "site.conf").write_text(site)
    main = nginx_dir / "nginx.conf"
    main.write_text(
        f"pid {nginx_dir}/nginx.pid;\n"
        f"error_log {nginx_dir}/error.log warn;\n"
        "worker_processes 1;\n"
        "daemon off;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"  access_log {nginx_dir}/access.log;\n"
        f"  client_body_temp_path {nginx_dir}/body;\n"
        f"  proxy_temp_path {nginx_dir}/proxy;\n"
        f"  fastcgi_temp_path {nginx_dir}/fastcgi;\n"
        f"  uwsgi_temp_path {nginx_dir}/uwsgi;\n"
        f"  scgi_temp_path {nginx_dir}/scgi;\n"
        f"  include {nginx_dir}/site.conf;\n"
        "}\n"
    )
    return main


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with the headers it received, as a JSON object of
    lowercased names to lists of values."""

    def answer(self):
        received = {}
        for name, value in self.headers.items():
            received.setdefault(name.lower(), []).append(value)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(received).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = answer

    def log_message(self, *args):
        pass


class ComposeCluster:
    """The deployment deploy/compose.yaml describes, already up."""

    drain_delay = "5s"
    # /protected/ is the shipped stand-in (it greets the user), not the
    # suite's echo app.
    echo_app = False

    def __init__(self):
        self.nginx_url = os.environ.get("TOKENGATE_E2E_URL", "http://127.0.0.1:8080")
        self.users = (Path(COMPOSE_FILE).parent / "users.htpasswd").resolve()
        self.replicas = {
            service: ComposeReplica(service)
            for service in ("tokengate-1", "tokengate-2", "tokengate-3")
        }
        # nginx's peer for requests through the published port: the host's
        # address on the bridge (docker-proxy or the NAT rule connects from it).
        self.published_port_peer = next(iter(self.replicas.values())).gateway

    def start(self):
        for replica in self.replicas.values():
            wait_until(lambda: answers(replica.url + "/readyz"), 60, f"{replica.name} to be ready")
        wait_until(lambda: answers(self.nginx_url + "/healthz"), 30, "nginx to proxy")

    def access_log(self):
        """nginx's access log: the container's output."""
        nginx = compose("ps", "-q", "nginx").stdout.strip()
        return subprocess.run([DOCKER, "logs", nginx], capture_output=True, text=True).stdout

    def stop(self):
        """`docker-compose down` is the caller's step (the README's)."""


class Cluster:
    # The address a replica logs for requests through nginx that claim to come
    # from elsewhere: nginx on loopback is trusted, so the claim is believed.
    published_port_peer = None
    drain_delay = "1s"
    echo_app = True

    def __init__(self, workdir):
        self.workdir = workdir
        self.nginx = None
        self.echo = None
        self.nginx_url = f"http://127.0.0.1:{NGINX_PORT}"
        self.secret = write_secret(workdir / "jwt_secret")
        self.users = workdir / "users"
        self.users.write_text(hash_password(USER, PASSWORD) + hash_password(OTHER_USER, PASSWORD))
        self.users.chmod(0o644)
        self.groups = workdir / "groups"
        self.groups.write_text(f"admins: {USER}\n")
        self.groups.chmod(0o644)
        settings = write_settings(workdir, "config", self.secret, self.users, self.groups)
        self.replicas = {
            name: Replica(name, port, workdir, settings, self.secret, self.users)
            for name, port in REPLICA_PORTS.items()
        }
        self.redis = Redis(workdir)

    def start(self):
        self.redis.start()
        for replica in self.replicas.values():
            replica.start()
        self.echo = ThreadingHTTPServer(("127.0.0.1", ECHO_PORT), EchoHandler)
        threading.Thread(target=self.echo.serve_forever, daemon=True).start()
        main = nginx_config(self.workdir)
        checked = subprocess.run([NGINX, "-t", "-c", str(main), "-e", "stderr"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.nginx = subprocess.Popen(
            [NGINX, "-c", str(main), "-e", str(main.parent / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: answers(self.nginx_url + "/healthz"), 30, "nginx to proxy")

    def access_log(self):
        return (self.workdir / "nginx" / "access.log").read_text()

    def stop(self):
        if self.echo:
            self.echo.shutdown()
            self.echo.server_close()
        if self.nginx and self.nginx.poll() is None:
            self.nginx.terminate()
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        for replica in self.replicas.values():
            replica.stop()
        self.redis.stop()


@pytest.fixture(scope="session")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="tokengate-e2e-"))
    # nginx's workers and the containers' user read from here.
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster(workdir):
    if not IMAGE:
        assert BINARY.exists(), f"{BINARY} is missing: run `cargo build` first"
    cluster = ComposeCluster() if COMPOSE_FILE else Cluster(workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def outsider(cluster, workdir):
    """A replica with the same config and users but another secret."""
    secret = write_secret(workdir / "other_secret")
    settings = write_settings(workdir, "other-config", secret, cluster.users)
    replica = Replica(
        "replica-outsider", OUTSIDER_PORT, workdir, settings, secret, cluster.users
    )
    try:
        yield replica.start()
    finally:
        replica.stop()


def write_secret(path):
    path.write_text(secrets.token_hex(32) + "\n")
    # The containers' user (uid 65532) reads it through a bind mount.
    path.chmod(0o644)
    return path
