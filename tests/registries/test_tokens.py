"""The registry's tokens and keys without a registry: what the distribution
server checks (signature, kid, issuer, audience, lifetime), private files, and
service credentials that open one project each."""

from __future__ import annotations

import base64
import json
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from cubelab_hub.controlplane.services.secret_box import SecretBox, SecretUnreadable
from cubelab_hub.registry.tokens import ISSUER, SERVICE, RegistryTokens, libtrust_key_id


def _part(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_token_verifies_with_the_certificate_the_registry_trusts(tmp_path):
    tokens = RegistryTokens(tmp_path / "registry")
    cert = x509.load_pem_x509_certificate(tokens.ensure().read_bytes())
    access = [{"type": "repository", "name": "team-a/app", "actions": ["pull"]}]
    answer = tokens.token("alice", access, now=1_000_000)
    assert answer["token"] == answer["access_token"] and answer["expires_in"] == 300
    header, claims, signature = answer["token"].split(".")
    head = json.loads(_part(header))
    assert head["alg"] == "ES256" and head["kid"] == libtrust_key_id(cert.public_key())
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", head["kid"])
    body = json.loads(_part(claims))
    assert (body["iss"], body["aud"], body["sub"], body["access"]) == (ISSUER, SERVICE, "alice", access)
    assert body["exp"] - body["iat"] == 300 and body["nbf"] <= body["iat"]
    raw = _part(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    cert.public_key().verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if wrong
    # the key stays the platform's, and a second instance signs with the same one
    assert (tmp_path / "registry" / "token-signing.key").stat().st_mode & 0o077 == 0
    assert RegistryTokens(tmp_path / "registry").key.private_numbers() == tokens.key.private_numbers()


def test_service_credentials_open_their_own_project_only(tmp_path):
    tokens = RegistryTokens(tmp_path)
    user, password = tokens.service_credential("team-a")
    assert user == "cubelab-build.team-a"
    assert tokens.check_service_credential(user, password) == "team-a"
    assert tokens.check_service_credential("cubelab-build.team-b", password) is None
    assert tokens.check_service_credential("alice", password) is None
    assert RegistryTokens(tmp_path).service_credential("team-a") == (user, password)  # nothing stored but the key
    assert RegistryTokens(tmp_path / "elsewhere").service_credential("team-a")[1] != password


def test_sealed_secrets_open_only_in_their_own_place(tmp_path):
    box = SecretBox(tmp_path / "k.key")
    sealed = box.seal("hunter2", "registry:a")
    assert "hunter2" not in sealed and sealed != box.seal("hunter2", "registry:a")  # a fresh nonce each time
    assert SecretBox(tmp_path / "k.key").open(sealed, "registry:a") == "hunter2"
    for context, box2 in (("registry:b", box), ("registry:a", SecretBox(tmp_path / "other.key"))):
        try:
            box2.open(sealed, context)
        except SecretUnreadable:
            pass
        else:
            raise AssertionError("a sealed secret opened elsewhere")
    assert (tmp_path / "k.key").stat().st_mode & 0o077 == 0
