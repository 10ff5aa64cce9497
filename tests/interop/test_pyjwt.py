"""Interop with PyJWT, against the real tokengate binary.

Tokens tokengate mints must verify in PyJWT from the JWKS document alone;
tokens PyJWT mints with keys tokengate trusts must be accepted; the classic
forgeries (alg none, public key as HMAC secret, embedded jwk) must be refused.

Run by scripts/test after `cargo test` built target/debug/tokengate
(override with TOKENGATE_BIN). Every key is generated here, at test time.
"""

import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, RSAAlgorithm

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("TOKENGATE_BIN", REPO / "target" / "debug" / "tokengate"))
USER, PASSWORD = "alice", "interop password"
HMAC_SECRET = "interop-hmac-secret-" + uuid.uuid4().hex
AUDIENCE = ISSUER = "tokengate"

# kid -> algorithm of the keys tokengate holds with both halves.
SIGNING_KEYS = {"rsa": "RS256", "ec": "ES256", "ed": "EdDSA"}
# A key only PyJWT holds the private half of; tokengate trusts its public half.
TRUSTED_KID = "python-ec"


def new_private_key(algorithm):
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def write_pem(path, key):
    if hasattr(key, "private_bytes"):
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    else:
        data = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    path.write_bytes(data)
    return path


def public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """Generates every key and writes the config dir tokengate reads."""
    directory = tmp_path_factory.mktemp("tokengate-config")
    private = {kid: new_private_key(alg) for kid, alg in SIGNING_KEYS.items()}
    private[TRUSTED_KID] = new_private_key("ES256")
    entries = [
        f'[[jwt.keys]]\nkid = "hs"\nalgorithm = "HS256"\nsecret = "{HMAC_SECRET}"\n'
    ]
    for kid, algorithm in SIGNING_KEYS.items():
        key_file = write_pem(directory / f"{kid}.pem", private[kid])
        entries.append(
            f'[[jwt.keys]]\nkid = "{kid}"\nalgorithm = "{algorithm}"\n'
            f'private_key_file = "{key_file}"\n'
        )
    trusted = write_pem(directory / f"{TRUSTED_KID}.pub.pem", private[TRUSTED_KID].public_key())
    entries.append(
        f'[[jwt.keys]]\nkid = "{TRUSTED_KID}"\nalgorithm = "ES256"\n'
        f'public_key_file = "{trusted}"\n'
    )
    (directory / "default.toml").write_text(
        '[jwt]\nsigning_key = "hs"\n\n' + "\n".join(entries)
    )
    hashed = subprocess.run(
        [BINARY, "hash-password", "--user", USER],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (directory / "users").write_text(hashed)
    return directory, private


def wait_for_ready_file(process, path, timeout=30):
    """The document `serve --ready-file` writes (atomically, by rename), once
    it names this process; None if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            ready = json.loads(path.read_text())
            if ready["pid"] == process.pid:
                return ready
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    return None


class Tokengate:
    """The binary, serving on a random port with the given signing key."""

    def __init__(self, config_dir, signing_kid):
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("TOKENGATE") and key != "RUST_LOG"
        }
        env.update(
            TOKENGATE_CONFIG_DIR=str(config_dir),
            TOKENGATE__USERS__FILE=str(config_dir / "users"),
            TOKENGATE__SERVER__PORT="0",
            TOKENGATE__SERVER__WORKERS="1",
            TOKENGATE__JWT__SIGNING_KEY=signing_kid,
        )
        ready_file = config_dir / f"ready-{signing_kid}.json"
        self.process = subprocess.Popen(
            [BINARY, "serve", "--ready-file", ready_file],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.log = []

        def read_log():
            for line in self.process.stderr:
                self.log.append(line)

        threading.Thread(target=read_log, daemon=True).start()
        ready = wait_for_ready_file(self.process, ready_file)
        if ready is None:
            self.stop()
            raise AssertionError("tokengate did not start:\n" + "".join(self.log))
        self.base = f"http://{ready['address']}"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)

    def token(self):
        response = requests.get(
            self.base + "/login",
            auth=(USER, PASSWORD),
            headers={"Accept": "application/json"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def access(self, token):
        return requests.get(
            self.base + "/access", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )


@pytest.fixture(scope="session")
def servers(keys):
    """One running tokengate per signing key, sharing one key list."""
    config_dir, _ = keys
    started = {}
    try:
        for kid in ["hs", *SIGNING_KEYS]:
            started[kid] = Tokengate(config_dir, kid)
        yield started
    finally:
        for server in started.values():
            server.stop()


def session_id():
    """A UUIDv7, as tokengate's session ids are: its first 48 bits are the
    session's start in ms, which the revocation check compares with the
    user's logout-everywhere epoch. A token without `sid` is refused."""
    value = (int(time.time() * 1000) << 80) | (0x7 << 76) | (2 << 62)
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 62) - 1) & ~(0xF << 76)
    return str(uuid.UUID(int=value))


def claims(**overrides):
    now = int(time.time())
    return {
        "sub": USER,
        "sid": session_id(),
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "iss": ISSUER,
        "aud": AUDIENCE,
        **overrides,
    }


def assert_rejected(response, code="token_invalid"):
    assert response.status_code == 401, response.text
    assert response.json()["error"] == code
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="tokengate"')


@pytest.mark.parametrize("kid", list(SIGNING_KEYS))
def test_minted_tokens_verify_in_pyjwt_from_the_jwks_document_alone(servers, kid):
    server = servers[kid]
    token = server.token()
    header = jwt.get_unverified_header(token)
    assert header["kid"] == kid and header["alg"] == SIGNING_KEYS[kid]

    signing_key = jwt.PyJWKClient(server.base + "/.well-known/jwks.json").get_signing_key_from_jwt(
        token
    )
    decoded = jwt.decode(
        token,
        signing_key.key,
        algorithms=[SIGNING_KEYS[kid]],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub"]},
    )
    assert decoded["sub"] == USER


def test_the_jwks_document_holds_public_keys_only_and_may_be_cached(servers):
    response = requests.get(servers["hs"].base + "/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200
    assert "max-age=" in response.headers["Cache-Control"]
    assert HMAC_SECRET not in response.text
    jwks = response.json()
    by_kid = {key["kid"]: key for key in jwks["keys"]}
    assert set(by_kid) == {*SIGNING_KEYS, TRUSTED_KID}
    for key in by_kid.values():
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
        # Each entry loads as a key PyJWT can verify with.
        assert jwt.PyJWK(key).key is not None


def test_a_pyjwt_hs256_token_with_the_shared_secret_is_accepted(servers):
    token = jwt.encode(
        claims(), HMAC_SECRET, algorithm="HS256", headers={"kid": "hs", "typ": "at+jwt"}
    )
    response = servers["hs"].access(token)
    assert response.status_code == 200, response.text
    assert response.json()["user"] == USER


@pytest.mark.parametrize("kid", [*SIGNING_KEYS, TRUSTED_KID])
def test_a_pyjwt_token_signed_with_a_key_tokengate_trusts_is_accepted(servers, keys, kid):
    _, private = keys
    algorithm = SIGNING_KEYS.get(kid, "ES256")
    token = jwt.encode(
        claims(), private[kid], algorithm=algorithm, headers={"kid": kid, "typ": "at+jwt"}
    )
    response = servers["hs"].access(token)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kid", ["hs", "rsa", None])
def test_alg_none_is_rejected(servers, kid):
    headers = {"typ": "at+jwt", **({"kid": kid} if kid else {})}
    token = jwt.encode(claims(), None, algorithm="none", headers=headers)
    assert_rejected(servers["hs"].access(token))


class PublicKeyAsSecret(HMACAlgorithm):
    """HS256 that, unlike PyJWT's own, accepts a PEM public key as the secret."""

    def prepare_key(self, key):
        return key


@pytest.mark.parametrize("kid", list(SIGNING_KEYS))
def test_the_public_key_as_an_hmac_secret_is_rejected(servers, keys, kid):
    _, private = keys
    jws = jwt.PyJWS(algorithms=[])
    jws.register_algorithm("HS256", PublicKeyAsSecret(HMACAlgorithm.SHA256))
    token = jws.encode(
        json.dumps(claims()).encode(),
        public_pem(private[kid]),
        algorithm="HS256",
        headers={"kid": kid, "typ": "at+jwt"},
    )
    assert_rejected(servers["hs"].access(token))


@pytest.mark.parametrize("kid", ["rsa", "ec", "unknown", None])
def test_an_embedded_jwk_header_is_ignored_and_its_token_rejected(servers, kid):
    attacker = ec.generate_private_key(ec.SECP256R1())
    rsa_attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kid == "rsa":
        key, algorithm, jwk = rsa_attacker, "RS256", RSAAlgorithm.to_jwk(rsa_attacker.public_key(), as_dict=True)
    else:
        key, algorithm, jwk = attacker, "ES256", ECAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
    headers = {"typ": "at+jwt", "jwk": jwk, **({"kid": kid} if kid else {})}
    token = jwt.encode(claims(), key, algorithm=algorithm, headers=headers)
    assert_rejected(servers["hs"].access(token))


def test_a_token_without_kid_is_rejected_when_several_keys_are_configured(servers):
    token = jwt.encode(claims(), HMAC_SECRET, algorithm="HS256", headers={"typ": "at+jwt"})
    assert_rejected(servers["hs"].access(token))
