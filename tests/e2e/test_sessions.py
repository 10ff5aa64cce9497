"""Sessions across replicas sharing one Redis: logout, reuse detection and
login limits hold on every replica, and a Redis crash under load costs no
valid request and no 500 (refreshes answer 503 until it is back)."""

import secrets
import threading
import time

import pytest
import requests

from conftest import COMPOSE_FILE, OTHER_USER, PASSWORD, USER, answers, login, wait_until

# These tests kill and restart the suite's own redis-server and talk to the
# replicas' ports; the compose deployment's Redis is a container they leave
# alone (tests/e2e/test_load_balancer.py covers that deployment).
pytestmark = pytest.mark.skipif(
    bool(COMPOSE_FILE), reason="needs the suite's own redis-server and replicas"
)


@pytest.fixture(scope="module")
def replicas(cluster):
    """All three replicas, restarting any an earlier test stopped."""
    for replica in cluster.replicas.values():
        if not replica.is_running():
            replica.stop()
            replica.start()
    for replica in cluster.replicas.values():
        wait_until(lambda r=replica: synced(r.url), 30, f"{replica.name} to sync")
    return list(cluster.replicas.values())


def synced(url):
    try:
        body = requests.get(url + "/readyz", timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    return body.get("sessions", {}).get("synced") is True


def access(url, token):
    return requests.get(url + "/access", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def refresh(url, token):
    return requests.post(
        url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        timeout=10,
    )


def refused_soon(url, token, timeout=5):
    wait_until(lambda: access(url, token).status_code == 401, timeout, f"{url} to refuse")


def test_logout_on_one_replica_is_refused_by_the_other_two(replicas):
    a, b, c = replicas
    tokens = login(a.url)
    for replica in replicas:
        assert access(replica.url, tokens["access_token"]).status_code == 200
    logout = requests.post(
        b.url + "/logout",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert logout.status_code == 204
    for replica in (a, c):
        refused_soon(replica.url, tokens["access_token"])
        assert access(replica.url, tokens["access_token"]).json()["error"] == "token_revoked"
    assert refresh(c.url, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_replayed_refresh_token_on_another_replica_ends_the_session_everywhere(replicas):
    a, b, c = replicas
    tokens = login(a.url)
    rotated = refresh(a.url, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    replay = refresh(b.url, tokens["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    for replica in replicas:
        refused_soon(replica.url, new["access_token"])
    assert refresh(c.url, new["refresh_token"]).json()["error"] == "invalid_grant"


def test_an_operator_ends_a_users_sessions_through_nginx(cluster, replicas):
    # deploy/nginx.conf guards an admin application under /admin/; tokengate's
    # own operator endpoint beneath it must still reach tokengate.
    a, b, c = replicas
    victim = login(a.url, user=OTHER_USER)
    operator = login(b.url)
    ended = requests.post(
        cluster.nginx_url + "/admin/sessions/revoke",
        data={"user": OTHER_USER},
        headers={"Authorization": f"Bearer {operator['access_token']}"},
        timeout=10,
    )
    assert ended.status_code == 204, ended.text
    for replica in replicas:
        refused_soon(replica.url, victim["access_token"])
    assert refresh(c.url, victim["refresh_token"]).json()["error"] == "invalid_grant"
    assert access(c.url, operator["access_token"]).status_code == 200


def test_login_limits_hold_across_replicas(replicas):
    # A fresh address each run; nginx and the replicas trust 127.0.0.1's
    # X-Forwarded-For. The strict per-user-and-address burst is 10.
    address = f"198.51.100.{secrets.randbelow(250) + 1}"
    statuses = []
    for attempt in range(12):
        replica = replicas[attempt % 3]
        response = requests.get(
            replica.url + "/login",
            auth=(USER, "wrong password"),
            headers={"Accept": "application/json", "X-Forwarded-For": address},
            timeout=10,
        )
        statuses.append(response.status_code)
    assert statuses[:10] == [401] * 10, statuses
    assert statuses[10:] == [429, 429], statuses
    # Alice, from her own address, is not locked out.
    login(replicas[1].url, forwarded_for="192.0.2.77")


def test_killing_redis_under_load_keeps_valid_tokens_and_answers_503_not_500(cluster, replicas):
    tokens = login(cluster.nginx_url)
    outcomes = {"access": [], "refresh": []}
    stopping = threading.Event()
    lock = threading.Lock()

    def hammer_access():
        session = requests.Session()
        while not stopping.is_set():
            try:
                status = session.get(
                    cluster.nginx_url + "/access",
                    headers={"Authorization": f"Bearer {tokens['access_token']}"},
                    timeout=10,
                ).status_code
            except requests.RequestException as error:
                status = repr(error)
            with lock:
                outcomes["access"].append(status)

    threads = [threading.Thread(target=hammer_access) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        cluster.redis.kill()
        # Give every replica time to notice, then try the store operations.
        wait_until(lambda: not any(synced(r.url) for r in replicas), 10, "replicas to notice")
        for replica in replicas:
            response = refresh(replica.url, tokens["refresh_token"])
            with lock:
                outcomes["refresh"].append(response.status_code)
            assert response.status_code == 503, response.text
            assert "Retry-After" in response.headers
            denied = requests.get(
                replica.url + "/login",
                auth=(USER, PASSWORD),
                headers={"Accept": "application/json", "X-Forwarded-For": "203.0.113.254"},
                timeout=10,
            )
            assert denied.status_code == 503
        time.sleep(1)
    finally:
        cluster.redis.start()
    try:
        for replica in replicas:
            wait_until(lambda r=replica: synced(r.url), 30, f"{replica.name} to resync")
        time.sleep(0.5)
    finally:
        stopping.set()
        for thread in threads:
            thread.join()

    assert outcomes["access"], "no request was made"
    assert set(outcomes["access"]) == {200}, {s for s in outcomes["access"] if s != 200}
    # Back: a new session logs in, refreshes, and logs out everywhere.
    fresh = login(cluster.nginx_url)
    rotated = refresh(replicas[0].url, fresh["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    logout = requests.post(
        replicas[1].url + "/logout",
        headers={"Authorization": f"Bearer {rotated.json()['access_token']}"},
        timeout=10,
    )
    assert logout.status_code == 204
    for replica in replicas:
        refused_soon(replica.url, rotated.json()["access_token"])
    assert answers(cluster.nginx_url + "/healthz")
