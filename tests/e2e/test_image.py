"""The image as shipped: small, no shell, and (under compose) a static binary
that still resolves service names. Container modes only."""

import subprocess

import pytest

from conftest import COMPOSE_FILE, DOCKER, FIGURES, IMAGE, compose, container_file

pytestmark = pytest.mark.skipif(not IMAGE, reason="container mode only (TOKENGATE_E2E_IMAGE)")

# Issue #17's budget for the runtime image.
MAX_IMAGE_BYTES = 20_000_000


def test_the_image_is_within_its_size_budget():
    size = int(subprocess.run(
        [DOCKER, "image", "inspect", "--format", "{{.Size}}", IMAGE],
        capture_output=True, text=True, check=True,
    ).stdout)
    FIGURES["image size"] = f"{size / 1e6:.1f} MB ({size} bytes)"
    assert size <= MAX_IMAGE_BYTES, size


def test_the_image_has_no_shell():
    for shell in ("/bin/sh", "/bin/bash", "/busybox"):
        ran = subprocess.run(
            [DOCKER, "run", "--rm", "--network", "none", "--entrypoint", shell, IMAGE, "-c", "true"],
            capture_output=True, text=True,
        )
        assert ran.returncode != 0, (shell, ran.stdout)


def test_the_image_runs_as_its_named_unprivileged_user():
    user = subprocess.run(
        [DOCKER, "image", "inspect", "--format", "{{.Config.User}}", IMAGE],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert user == "65532:65532"


@pytest.fixture
def compose_replica(cluster):
    if not COMPOSE_FILE:
        pytest.skip("compose mode only (TOKENGATE_E2E_COMPOSE)")
    return next(iter(cluster.replicas.values()))


def healthcheck_from(service, host):
    """The static binary inside `service` asks `host`:8080/healthz, resolving
    the name the way the service resolves its peers and Redis."""
    return compose(
        "exec", "-T", "-e", f"TOKENGATE__SERVER__HOST={host}",
        service, "/usr/local/bin/tokengate", "healthcheck",
        check=False,
    )


def test_the_static_binary_resolves_service_names_through_dns(cluster, compose_replica):
    # Docker writes only the container's own name into its /etc/hosts, so the
    # other replicas' names can only come from the network's DNS server.
    hosts = container_file(compose_replica.ref, "/etc/hosts")
    assert "tokengate-2" not in hosts and "tokengate-3" not in hosts, hosts
    for peer in ("tokengate-2", "tokengate-3"):
        asked = healthcheck_from("tokengate-1", peer)
        assert asked.returncode == 0, (peer, asked.stderr)
    FIGURES["name resolution"] = "tokengate-1's static binary reached tokengate-2 and tokengate-3 by name"

    unknown = healthcheck_from("tokengate-1", "no-such-service")
    assert unknown.returncode == 1, unknown.stderr
    assert "lookup" in unknown.stderr or "resolve" in unknown.stderr, unknown.stderr


def test_redis_is_up_on_the_backend_network(cluster, compose_replica):
    ping = compose("exec", "-T", "redis", "redis-cli", "ping", check=False)
    assert ping.stdout.strip() == "PONG", (ping.stdout, ping.stderr)
