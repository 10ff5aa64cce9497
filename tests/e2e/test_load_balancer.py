"""tokengate as deployed: replicas behind nginx with deploy/nginx.conf.

The tests share one cluster and run in file order; the SIGKILL test restarts
the replica it kills, and the SIGTERM test, which stops one for good, is last.
"""

import collections
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

import conftest
from conftest import DOCKER, FIGURES, IMAGE, OTHER_USER, PASSWORD, USER, answers, wait_until


def login(base_url, user=USER):
    return conftest.login(base_url, user)["access_token"]


def access(base_url, token, session=requests):
    return session.get(
        base_url + "/access", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


class ClientLoop:
    """Clients calling /access through nginx until stopped (or a bound is hit),
    counting failures and which replica answered."""

    def __init__(self, base_url, token, clients=4, max_requests=20_000, max_seconds=60):
        self.base_url = base_url
        self.token = token
        self.served = collections.Counter()
        self.failures = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.max_requests = max_requests
        self.threads = [threading.Thread(target=self.run) for _ in range(clients)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def total(self):
        with self.lock:
            return sum(self.served.values()) + len(self.failures)

    def run(self):
        session = requests.Session()
        while not self.stopping.is_set() and time.monotonic() < self.deadline:
            if self.total() >= self.max_requests:
                break
            try:
                response = access(self.base_url, self.token, session)
                outcome = response.status_code, response.headers.get("X-Instance-Id")
            except requests.RequestException as error:
                outcome = "error", repr(error)
            with self.lock:
                if outcome[0] == 200:
                    self.served[outcome[1]] += 1
                else:
                    self.failures.append(outcome)

    def wait_for_requests(self, count, timeout=30):
        start = self.total()
        wait_until(lambda: self.total() >= start + count, timeout, f"{count} more requests")


def test_every_replica_serves_a_success_with_the_one_token(cluster):
    token = login(cluster.nginx_url)
    served = collections.Counter()
    session = requests.Session()
    for _ in range(60):
        response = access(cluster.nginx_url, token, session)
        assert response.status_code == 200, response.text
        assert response.json()["user"] == USER
        served[response.headers["X-Instance-Id"]] += 1
    FIGURES["requests served per replica (60 through nginx)"] = dict(sorted(served.items()))
    assert set(served) == set(cluster.replicas), served


def test_a_token_minted_by_one_replica_is_accepted_by_the_others_directly(cluster):
    a, b, c = cluster.replicas.values()
    token = login(a.url)
    for replica in (b, c):
        response = access(replica.url, token)
        assert response.status_code == 200, response.text
        assert response.headers["X-Instance-Id"] == replica.name


def test_a_replica_with_another_secret_rejects_the_token(cluster, outsider):
    token = login(cluster.nginx_url)
    response = access(outsider.url, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json()["error"] == "token_invalid"


def test_forward_auth_through_nginx_guards_the_protected_location(cluster):
    url = cluster.nginx_url + "/protected/page"
    anonymous = requests.get(url, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith('Bearer realm="tokengate"')

    posing = requests.get(url, headers={"X-Auth-Request-User": "admin"}, timeout=10)
    assert posing.status_code == 401

    forged = requests.get(url, headers={"Authorization": "Bearer not.a.token"}, timeout=10)
    assert forged.status_code == 401
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]

    token = login(cluster.nginx_url)
    for method in ("GET", "POST"):
        admitted = requests.request(
            method, url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert admitted.status_code == 200, (method, admitted.text)
        assert admitted_user(cluster, admitted) == USER
    by_cookie = requests.get(url, cookies={"tokengate_token": token}, timeout=10)
    assert admitted_user(cluster, by_cookie) == USER


def admitted_user(cluster, response):
    """The user nginx told the protected application about: the suite's echo
    app reports the header, the shipped stand-in (compose) greets the user."""
    if cluster.echo_app:
        (user,) = response.json()["x-auth-request-user"]
        return user
    assert response.text.startswith("hello "), response.text
    return response.text.removeprefix("hello ").rstrip("\n")


# Both guarded locations of deploy/nginx.conf: the plain one and the
# role-protected one (USER is in the suite's admins group).
@pytest.mark.parametrize("path", ["/protected/page", "/admin/page"])
def test_the_protected_app_never_sees_the_basic_password_or_the_token_cookie(cluster, path):
    if not cluster.echo_app:
        pytest.skip("needs the echo app as the protected application (not in compose.yaml)")
    # A browser that logged in at /login sends its Basic credentials to the
    # whole origin (RFC 7617 2.2), beside the token cookie from the hand-off.
    url = cluster.nginx_url + path
    token = login(cluster.nginx_url)
    cookie_headers = [
        f"tokengate_token={token}",
        f"theme=dark; tokengate_token={token}; lang=en",
        f"theme=dark; tokengate_token={token}",
        f"tokengate_token={token}; theme=dark; lang=en",
        # Repeats and the __Host- name used over HTTPS. (Two different values
        # under the one name are refused by tokengate itself.)
        f"tokengate_token={token}; theme=dark; __Host-tokengate_token={token}; tokengate_token={token}",
    ]
    for cookie in cookie_headers:
        seen = requests.get(
            url, auth=(USER, PASSWORD), headers={"Cookie": cookie}, timeout=10
        )
        assert seen.status_code == 200, seen.text
        received = seen.json()
        assert received["x-auth-request-user"] == [USER]
        assert "authorization" not in received, received
        sent_on = " ".join(received.get("cookie", []))
        assert token not in sent_on and "tokengate_token" not in sent_on, received
        for other in ("theme=dark", "lang=en"):
            if other in cookie:
                assert other in sent_on, received
    # A lowercase scheme is still Basic.
    lowercase = requests.get(
        url,
        headers={"Authorization": "basic YWxpY2U6eA==", "Cookie": f"tokengate_token={token}"},
        timeout=10,
    )
    assert "authorization" not in lowercase.json()
    # A Bearer token is the client's choice for this request: it passes.
    bearer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert bearer.json()["authorization"] == [f"Bearer {token}"]


def test_nginx_access_log_never_holds_the_private_link_token(cluster):
    token = login(cluster.nginx_url)
    response = requests.get(
        cluster.nginx_url + f"/access?token={token}&page=2",
        headers={"User-Agent": "e2e-access-log-probe"},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 200
    signature = token.rsplit(".", 1)[1]

    def logged():
        lines = [line for line in cluster.access_log().splitlines() if "e2e-access-log-probe" in line]
        return lines or None

    wait_until(logged, 10, "nginx's access-log line")
    for line in logged():
        assert "/access" in line, line
        assert signature not in line and "token=" not in line, line


def test_the_admin_location_admits_only_the_admins_group(cluster):
    if not cluster.echo_app:
        pytest.skip("needs the suite's groups file and echo app (not in compose.yaml)")
    url = cluster.nginx_url + "/admin/page"
    anonymous = requests.get(url, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith('Bearer realm="tokengate"')

    not_admin = login(cluster.nginx_url, OTHER_USER)
    refused = requests.get(url, headers={"Authorization": f"Bearer {not_admin}"}, timeout=10)
    assert refused.status_code == 403

    # A client cannot claim the role with the header the location sets.
    forged_role = {"X-Auth-Request-Roles": "admins", "X-Auth-Request-User": OTHER_USER}
    claiming = requests.get(
        url, headers={"Authorization": f"Bearer {not_admin}", **forged_role}, timeout=10
    )
    assert claiming.status_code == 403

    admin = login(cluster.nginx_url)
    admitted = requests.get(
        url, headers={"Authorization": f"Bearer {admin}", **forged_role}, timeout=10
    )
    assert admitted.status_code == 200, admitted.text
    received = admitted.json()
    assert received["x-auth-request-user"] == [USER]
    assert received["x-auth-request-roles"] == ["admins"]


def test_verify_names_the_user_and_expiry(cluster):
    a, _, _ = cluster.replicas.values()
    token = login(a.url)
    response = requests.get(
        a.url + "/auth/verify", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["X-Auth-Request-User"] == USER
    assert response.headers["X-Auth-Request-Expires"].endswith("Z")
    assert response.content == b""


def test_logs_show_the_client_a_trusted_proxy_vouches_for(cluster):
    # nginx appends its peer to what the client sent. On loopback that peer
    # (127.0.0.1) is trusted, so the replica walks past it to the address
    # before; behind compose's published port it is the host's bridge address,
    # which nobody vouches for, so that is the client and the claim is ignored.
    client = cluster.published_port_peer or "198.51.100.23"
    agent = "e2e-forwarded-for-probe"
    for _ in range(3):
        requests.get(
            cluster.nginx_url + "/healthz",
            headers={"X-Forwarded-For": "198.51.100.23", "User-Agent": agent},
            timeout=10,
        )
    def logged():
        lines = [
            line
            for replica in cluster.replicas.values()
            for line in replica.log().splitlines()
            if agent in line
        ]
        return lines if len(lines) >= 3 else None

    wait_until(logged, 10, "the probe's access-log lines")
    for line in logged():
        assert client in line, line
        if cluster.published_port_peer:
            assert "198.51.100.23" not in line, line


def test_sigkill_of_a_replica_loses_no_request(cluster):
    token = login(cluster.nginx_url)
    first, second, victim = cluster.replicas.values()
    with ClientLoop(cluster.nginx_url, token) as loop:
        loop.wait_for_requests(200)
        before_kill = dict(loop.served)
        victim.signal(signal.SIGKILL)
        victim.wait(30)
        loop.wait_for_requests(600)
    FIGURES["SIGKILL: requests through nginx"] = loop.total()
    FIGURES["SIGKILL: served per replica"] = dict(sorted(loop.served.items()))
    FIGURES["SIGKILL: failed requests"] = len(loop.failures)
    assert loop.failures == [], loop.failures[:5]
    assert before_kill.get(victim.name, 0) > 0, before_kill
    assert loop.served[first.name] > before_kill.get(first.name, 0)
    assert loop.served[second.name] > before_kill.get(second.name, 0)
    victim.stop()
    victim.start()


def open_partial_request(replica, token):
    """A connection whose request has begun but not finished."""
    connection = socket.create_connection((replica.host, replica.port), timeout=10)
    connection.sendall(
        b"GET /access HTTP/1.1\r\nHost: e2e\r\nAuthorization: Bearer " + token.encode() + b"\r\n"
    )
    return connection


def finish_request(connection):
    """The status line and the X-Instance-Id of the answer."""
    connection.sendall(b"Connection: close\r\n\r\n")
    received = b""
    while chunk := connection.recv(4096):
        received += chunk
    connection.close()
    head = received.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    instance = next(
        (line.split(":", 1)[1].strip() for line in head if line.lower().startswith("x-instance-id:")),
        None,
    )
    return head[0], instance


def test_sigterm_drains_readiness_first_and_finishes_in_flight_requests(cluster):
    token = login(cluster.nginx_url)
    _, leaving, _ = cluster.replicas.values()
    with ClientLoop(cluster.nginx_url, token) as loop:
        loop.wait_for_requests(100)
        # Requests under way when the signal comes: connections open, the
        # request half sent.
        in_flight = [open_partial_request(leaving, token) for _ in range(3)]
        assert requests.get(leaving.url + "/healthz", timeout=5).status_code == 200
        signalled = time.monotonic()
        leaving.signal(signal.SIGTERM)

        not_ready_at = None
        while leaving.is_running() and time.monotonic() - signalled < 30:
            try:
                if requests.get(leaving.url + "/readyz", timeout=1).status_code == 503:
                    not_ready_at = time.monotonic()
                    break
            except requests.RequestException:
                break
            time.sleep(0.02)
        assert not_ready_at is not None, "/readyz never answered 503 before the replica left"
        answered = [finish_request(connection) for connection in in_flight]

        wait_until(lambda: not answers(leaving.url + "/healthz"), 30, "the listener to close")
        closed_at = time.monotonic()
        status = leaving.wait(60)
        exited_at = time.monotonic()
        loop.wait_for_requests(100)

    FIGURES["SIGTERM: /readyz 503 after"] = f"{not_ready_at - signalled:.3f}s"
    FIGURES["SIGTERM: listener closed after"] = (
        f"{closed_at - signalled:.3f}s (drain_delay {cluster.drain_delay})"
    )
    FIGURES["SIGTERM: exited after"] = f"{exited_at - signalled:.3f}s"
    FIGURES["SIGTERM: requests through nginx / failed"] = f"{loop.total()} / {len(loop.failures)}"
    assert answered == [("HTTP/1.1 200 OK", leaving.name)] * 3, answered
    assert status == 0
    assert loop.failures == [], loop.failures[:5]


def test_containers_run_as_non_root_and_report_healthy(cluster):
    if not IMAGE:
        pytest.skip("container mode only (TOKENGATE_E2E_IMAGE)")
    replica, _, _ = cluster.replicas.values()

    def health():
        return subprocess.run(
            [DOCKER, "inspect", "-f", "{{.State.Health.Status}}", replica.ref],
            capture_output=True,
            text=True,
        ).stdout.strip()

    wait_until(lambda: health() == "healthy", 60, "the HEALTHCHECK to report healthy")
    pid = subprocess.run(
        [DOCKER, "inspect", "-f", "{{.State.Pid}}", replica.ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with open(f"/proc/{pid}/status") as status:
        uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
    assert uids[0] != "0" and uids[1] != "0", uids
    FIGURES["container uid"] = uids[1]
