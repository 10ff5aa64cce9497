"""deploy/compose.yaml, checked without Docker (.ci/docker-e2e runs it for
real): what a replica is given must fit what its config asks for."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def seconds(duration):
    """A duration as tokengate's config and compose write them ("5s", "1m30s")."""
    total = 0
    for value, unit in re.findall(r"(\d+)\s*(ms|s|m|h)", duration):
        total += int(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def replicas():
    services = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())["services"]
    found = {name: service for name, service in services.items() if name.startswith("tokengate-")}
    assert len(found) == 3, services.keys()
    return found


def test_docker_waits_for_the_drain_and_the_shutdown_before_sigkill():
    # A replica that `docker-compose up --force-recreate` or `stop` replaces
    # answers /readyz 503 for drain_delay, then finishes in-flight requests
    # within shutdown_timeout; docker's default 10 s would cut that short.
    defaults = tomllib.loads((REPO / "config" / "default.toml").read_text())["server"]
    for name, service in replicas().items():
        environment = service["environment"]
        drain = environment.get("TOKENGATE__SERVER__DRAIN_DELAY", defaults["drain_delay"])
        shutdown = environment.get("TOKENGATE__SERVER__SHUTDOWN_TIMEOUT", defaults["shutdown_timeout"])
        needed = seconds(drain) + seconds(shutdown)
        grace = seconds(service.get("stop_grace_period", "10s"))
        assert needed <= grace <= needed + 15, (name, needed, grace)


def test_every_replica_shares_the_redis_service():
    services = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())["services"]
    assert "redis" in services
    for name, service in replicas().items():
        assert service["environment"]["TOKENGATE__SESSIONS__STORE"] == "redis://redis:6379/0", name
