"""Secrets encrypted at rest: registry passwords and tokens.

AES-256-GCM (``cryptography``, already a dependency of JupyterHub) with a key
of the platform's private state (``registry-secrets.key``, 0600 in the data
directory, made the first time a secret is stored). Each secret gets a fresh
96-bit nonce; the stored text is ``v1:`` + base64(nonce + ciphertext + tag).
The associated data binds a ciphertext to its purpose and row, so a value
copied into another row of the database does not decrypt there.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...private_state import load_or_create_key

KEY_FILE = "registry-secrets.key"
PREFIX = "v1:"
NONCE_BYTES = 12


class SecretUnreadable(RuntimeError):
    """A stored secret that the key cannot open (another key, or a changed row)."""


class SecretBox:
    def __init__(self, key_file: str | os.PathLike):
        self.key_file = Path(key_file)
        self._aead: AESGCM | None = None

    @property
    def aead(self) -> AESGCM:
        if self._aead is None:
            self._aead = AESGCM(load_or_create_key(self.key_file, 32))
        return self._aead

    def seal(self, secret: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.aead.encrypt(nonce, secret.encode("utf-8"), context.encode("utf-8"))
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, context: str) -> str:
        if not stored.startswith(PREFIX):
            raise SecretUnreadable("not a sealed secret")
        raw = base64.b64decode(stored[len(PREFIX):])
        try:
            return self.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8")).decode("utf-8")
        except InvalidTag:
            raise SecretUnreadable(f"the secret cannot be opened with the key in {self.key_file}") from None
