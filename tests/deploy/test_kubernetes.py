"""deploy/kubernetes, checked without a cluster.

Every manifest (and the ConfigMap and Secret kustomization.yaml generates) is
validated against the Kubernetes OpenAPI schemas kubernetes-validate ships
(offline, strict: unknown fields are errors), for the oldest release the
manifests support and the newest the package knows. The probes, the Service
and the Ingress examples are checked against the binary itself: it runs with
the ConfigMap's local.toml, and the paths they name must answer as expected
on the port they name.
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
BINARY = Path(os.environ.get("TOKENGATE_BIN", REPO / "target" / "debug" / "tokengate"))
EXAMPLES = ["ingress-example.yaml"]
# The preStop sleep action is Kubernetes 1.30's (beta, on by default).
OLDEST, NEWEST = "1.30.0", kubernetes_validate.utils.latest_version()


def kustomization():
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())


def generated():
    """What kustomize's generators make (data only; kustomize adds a hash
    suffix to the names and rewrites the references)."""
    kustomize = kustomization()
    documents = []
    for generator in kustomize.get("configMapGenerator", []):
        data = {}
        for entry in generator["files"]:
            key, _, path = entry.partition("=")
            data[key] = (KUBERNETES / (path or key)).read_text()
        documents.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        )
    for generator in kustomize.get("secretGenerator", []):
        # The files are the operator's (git-ignored): stand-ins here.
        data = {
            entry.partition("=")[0]: base64.b64encode(b"stand-in").decode()
            for entry in generator["files"]
        }
        documents.append(
            {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": generator["name"]}, "data": data}
        )
    return documents


def manifests(names):
    return [
        document
        for name in names
        for document in yaml.safe_load_all((KUBERNETES / name).read_text())
        if document
    ]


def base():
    return manifests(kustomization()["resources"])


def one(documents, kind, name=None):
    (found,) = [
        d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    return found


def deployment():
    return one(base(), "Deployment", "tokengate")


def container():
    (found,) = deployment()["spec"]["template"]["spec"]["containers"]
    return found


def seconds(duration):
    """A humantime duration as tokengate's config writes them ("5s", "1m")."""
    total = 0
    for value, unit in re.findall(r"(\d+)\s*(ms|s|m|h)", duration):
        total += int(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def test_every_file_is_in_the_kustomization_or_an_example():
    listed = set(kustomization()["resources"]) | set(EXAMPLES) | {"kustomization.yaml"}
    on_disk = {path.name for path in KUBERNETES.glob("*.yaml")}
    assert on_disk == listed, on_disk ^ listed
    for path in listed - {"kustomization.yaml"}:
        assert (KUBERNETES / path).exists(), path


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(version):
    documents = base() + manifests(EXAMPLES) + generated()
    kinds = sorted(document["kind"] for document in documents)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "StatefulSet", "Ingress", "ConfigMap", "Secret"} <= set(kinds), kinds
    for document in documents:
        # Raises with the offending field's path.
        kubernetes_validate.validate(document, version, strict=True)


def test_selectors_and_references_meet():
    documents = base()
    labels = deployment()["spec"]["template"]["metadata"]["labels"]
    service = one(documents, "Service", "tokengate")
    pdb = one(documents, "PodDisruptionBudget")
    hpa = one(documents, "HorizontalPodAutoscaler")
    for selector in (service["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items(), (selector, labels)
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment()["metadata"]["name"]
    port_names = {port["name"] for port in container()["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in port_names

    names = {document["metadata"]["name"] for document in generated()}
    volumes = deployment()["spec"]["template"]["spec"]["volumes"]
    assert {volume["configMap"]["name"] for volume in volumes if "configMap" in volume} <= names
    assert {volume["secret"]["secretName"] for volume in volumes if "secret" in volume} <= names

    for ingress in manifests(EXAMPLES):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                if backend["name"] == service["metadata"]["name"]:
                    assert backend["port"].get("name", "http") in {p["name"] for p in service["spec"]["ports"]}


def test_the_pods_are_locked_down():
    pod = deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    context = container()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    resources = container()["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


def test_the_grace_period_covers_the_pre_stop_sleep_the_drain_and_the_shutdown():
    server = config_layer()["server"]
    pre_stop = container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    needed = pre_stop + seconds(server["drain_delay"]) + seconds(server["shutdown_timeout"])
    grace = deployment()["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # Enough to finish, and not so much that a stuck pod lingers.
    assert needed <= grace <= needed + 15, (needed, grace)


def config_layer():
    import tomllib

    return tomllib.loads((KUBERNETES / "local.toml").read_text())


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_sessions_store_is_the_redis_service():
    # Without it every pod keeps its own sessions: a logout on one pod would
    # not end the session on the others.
    store = urlsplit(config_layer()["sessions"]["store"])
    service = one(base(), "Service", "redis")
    assert store.scheme == "redis"
    assert store.hostname == service["metadata"]["name"]
    assert store.port == service["spec"]["ports"][0]["port"]


def test_the_files_local_toml_names_are_the_secrets_files():
    mounts = {mount["name"]: mount["mountPath"] for mount in container()["volumeMounts"]}
    (volume,) = [v for v in deployment()["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    (generator,) = [g for g in kustomization()["secretGenerator"] if g["name"] == volume["secret"]["secretName"]]
    keys = {entry.partition("=")[0] for entry in generator["files"]}
    layer = config_layer()
    for key, path in (("jwt.secret_file", layer["jwt"]["secret_file"]), ("users.file", layer["users"]["file"])):
        folder, _, name = path.rpartition("/")
        assert folder == mounts[volume["name"]], (key, path)
        assert name in keys, (key, path, keys)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A redis-server of the test's own, standing in for redis.yaml's."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def pod(tmp_path_factory, redis_url):
    """The binary with the image's config layers and the ConfigMap's
    local.toml, the Secret's files at stand-in paths and a local Redis for
    the Service's (this is no pod)."""
    assert BINARY.exists(), f"{BINARY} is missing: run `cargo build` first"
    workdir = tmp_path_factory.mktemp("kubernetes")
    config_dir = workdir / "config"
    config_dir.mkdir()
    for name in ("default.toml", "production.toml"):
        shutil.copy(REPO / "config" / name, config_dir / name)
    shutil.copy(KUBERNETES / "local.toml", config_dir / "local.toml")
    secret = workdir / "jwt_secret"
    secret.write_text("k" * 64)
    users = workdir / "users"
    users.write_text(
        subprocess.run([BINARY, "hash-password", "--user", "probe"], input="probe password\n",
                       capture_output=True, text=True, check=True).stdout
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOKENGATE") and k != "RUST_LOG"},
        "TOKENGATE_ENV": "production",
        "TOKENGATE_CONFIG_DIR": str(config_dir),
        "TOKENGATE__JWT__SECRET_FILE": str(secret),
        "TOKENGATE__USERS__FILE": str(users),
        "TOKENGATE__SESSIONS__STORE": redis_url,
    }
    # The metrics port of its own, moved off a port another test may hold.
    metrics_port = free_port()
    env["TOKENGATE__METRICS__LISTEN"] = f"127.0.0.1:{metrics_port}"
    # The effective config, all layers validated (an unknown key fails here).
    checked = subprocess.run([BINARY, "check-config"], env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    settings = json.loads(checked.stdout.split("\n", 1)[1])
    port = free_port()
    process = subprocess.Popen(
        [BINARY, "serve"],
        env={**env, "TOKENGATE__SERVER__HOST": "127.0.0.1", "TOKENGATE__SERVER__PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # Ready once it has synced with Redis, as the pod would be.
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.05)
        yield settings, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"
    finally:
        process.kill()
        process.wait()


def container_port(reference):
    """A probe's port (a name or a number) as the container's port number."""
    for port in container()["ports"]:
        if reference in (port["name"], port["containerPort"]):
            return port["containerPort"]
    raise AssertionError(f"no container port {reference!r}")


def test_the_probes_name_routes_and_the_port_the_binary_serves(pod):
    settings, url, _ = pod
    for probe in ("readinessProbe", "livenessProbe"):
        check = container()[probe]["httpGet"]
        # The port the probe names is the one the pod's config listens on.
        assert container_port(check["port"]) == settings["server"]["port"], probe
        answer = requests.get(url + check["path"], timeout=5)
        assert answer.status_code == 200, (probe, check["path"], answer.status_code)
    assert container()["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container()["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_the_ingress_auth_url_is_the_forward_auth_route(pod):
    _, url, _ = pod
    service = one(base(), "Service", "tokengate")
    namespace = kustomization()["namespace"]
    ingress = one(manifests(EXAMPLES), "Ingress", "protected-app")
    auth_url = urlsplit(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-url"])
    assert auth_url.hostname == f"{service['metadata']['name']}.{namespace}.svc.cluster.local"
    assert auth_url.port == service["spec"]["ports"][0]["port"]
    # No token: the forward-auth answer (401 with the Bearer challenge), not a 404.
    answer = requests.get(url + auth_url.path, timeout=5)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_metrics_are_served_on_their_own_port_and_not_through_the_ingress(pod):
    _, url, metrics_url = pod
    listen = config_layer()["metrics"]["listen"]
    assert int(listen.rpartition(":")[2]) == container_port("metrics")
    assert requests.get(metrics_url + "/metrics", timeout=5).status_code == 200
    # The Service port the Ingress routes does not answer it.
    assert requests.get(url + "/metrics", timeout=5).status_code == 404
    service = one(base(), "Service", "tokengate")
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]
