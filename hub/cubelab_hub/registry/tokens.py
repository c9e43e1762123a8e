"""Docker registry v2 token authentication: the signing key, the tokens, and
the service credentials of the platform's own clients.

The registry (``auth: token``) sends a client without a token to the realm, the
control plane's ``/registry/token``; the client presents HTTP Basic
credentials there and gets a JWT listing the actions granted per repository
(:mod:`cubelab_hub.domain.registry_scopes`). The registry checks the token's
signature against ``rootcertbundle``: a self-signed certificate of the signing
key. The token names its key by ``kid``, the libtrust key id the registry
computes from each certificate of the bundle.

Key and certificate are the platform's private state (``<data dir>/registry/``,
0600), made by ``cubelab up`` before the registry starts (or by whichever
process needs them first). ES256 with ``cryptography``: no JWT library is a
dependency, and the token is one signature over two base64url parts.

Service credentials: the platform's builds push with user
``cubelab-build.<project>`` (a '.' no account name has) and a password that is
an HMAC of that name under a key of the private state: nothing stored, and one
credential opens its own project's repositories only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from ..private_state import load_or_create, load_or_create_key

ISSUER = "cubelab"
SERVICE = "cubelab-registry"
STATE_DIR = "registry"
KEY_FILE = "token-signing.key"
CERT_FILE = "token-signing.crt"
CREDENTIAL_KEY_FILE = "service-credentials.key"
BUILD_USER_PREFIX = "cubelab-build."
TOKEN_SECONDS = 300


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key) -> str:
    """The key id the distribution server (docker/libtrust) gives a public key:
    SHA-256 of its DER form, the first 240 bits in base32, in 12 groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii")
    return ":".join(digest[i:i + 4] for i in range(0, len(digest), 4))


def _new_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _certificate_for(key) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CubeLab registry token issuer")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


class RegistryTokens:
    """Signs the tokens of the platform's registry; ``state_dir`` holds its keys."""

    def __init__(self, state_dir: str | os.PathLike, issuer: str = ISSUER, service: str = SERVICE, seconds: int = TOKEN_SECONDS):
        self.state_dir = Path(state_dir)
        self.issuer, self.service, self.seconds = issuer, service, seconds
        self._key = None
        self._credential_key: bytes | None = None

    @property
    def cert_file(self) -> Path:
        return self.state_dir / CERT_FILE

    def ensure(self) -> Path:
        """Make the key and its certificate if missing; the certificate's path (the registry's rootcertbundle)."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = self.key
        load_or_create(self.cert_file, lambda: _certificate_for(key))
        return self.cert_file

    @property
    def key(self):
        if self._key is None:
            pem = load_or_create(self.state_dir / KEY_FILE, _new_key)
            self._key = serialization.load_pem_private_key(pem, password=None)
        return self._key

    def token(self, subject: str, access: list[dict], now: float | None = None) -> dict:
        """The token endpoint's answer granting ``access`` (the JWT ``access`` claim) to ``subject``."""
        now = int(time.time() if now is None else now)
        header = {"typ": "JWT", "alg": "ES256", "kid": libtrust_key_id(self.key.public_key())}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + self.seconds,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_urlsafe(16), "access": access}
        signing_input = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            _b64url(json.dumps(claims, separators=(",", ":")).encode())
        r, s = decode_dss_signature(self.key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
        jwt = signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        issued = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": jwt, "access_token": jwt, "expires_in": self.seconds, "issued_at": issued}

    # ------------------------------------------------------------ service credentials

    @property
    def credential_key(self) -> bytes:
        if self._credential_key is None:
            self._credential_key = load_or_create_key(self.state_dir / CREDENTIAL_KEY_FILE, 32)
        return self._credential_key

    def service_credential(self, project: str) -> tuple[str, str]:
        """(user, password) that push to and pull from ``project``'s repositories
        only; give it to a client in an auth file (buildah ``--authfile``), never on
        a command line."""
        user = BUILD_USER_PREFIX + project
        return user, hmac.new(self.credential_key, user.encode(), hashlib.sha256).hexdigest()

    def check_service_credential(self, user: str, password: str) -> str | None:
        """The project a service credential opens; None when it is not one."""
        if not user.startswith(BUILD_USER_PREFIX):
            return None
        expected = self.service_credential(user[len(BUILD_USER_PREFIX):])[1]
        return user[len(BUILD_USER_PREFIX):] if hmac.compare_digest(expected.encode(), password.encode("utf-8", "replace")) else None
