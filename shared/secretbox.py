"""Encryption at rest for users' provider keys (BYOK): Fernet, with key rotation.

``BYOK_ENCRYPTION_KEY`` is one or more comma-separated Fernet keys (urlsafe base64 of 32
bytes): the first encrypts, every one decrypts, so a new key can be put in front and old
records still read. The embedded default keeps a random key in ``$DATA_DIR/byok.key``.
``cryptography`` is imported on first use, so functions that never touch a key never load it.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

    from shared.config import Settings


class Undecryptable(Exception):
    """The token was not made with any of the configured keys (or was altered)."""


def hint(key: str) -> str:
    """The last 4 characters of a key, which is all of it a user is ever shown (none of a short one)."""
    return key[-4:] if len(key) >= 12 else ""


class KeyCipher:
    def __init__(self, keys: Callable[[], list[bytes]]) -> None:
        self._keys = keys
        self._fernet: MultiFernet | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, *keys: bytes | str) -> KeyCipher:
        return cls(lambda: [k.encode() if isinstance(k, str) else k for k in keys])

    @staticmethod
    def generate() -> str:
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()

    @property
    def fernet(self) -> MultiFernet:
        if self._fernet is None:
            with self._lock:
                if self._fernet is None:
                    from cryptography.fernet import Fernet, MultiFernet

                    keys = self._keys()
                    if not keys:
                        raise ValueError("BYOK_ENCRYPTION_KEY is not set: users' keys cannot be stored")
                    self._fernet = MultiFernet([Fernet(k) for k in keys])
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self.fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise Undecryptable() from None


def file_cipher(path: Path) -> KeyCipher:
    """A cipher whose key is a random per-installation file (created on first use)."""

    def keys() -> list[bytes]:
        from shared.keyfile import load_or_create

        return [base64.urlsafe_b64encode(load_or_create(path))]

    return KeyCipher(keys)


def cipher_for(settings: Settings) -> KeyCipher:
    """The configured cipher. Without ``BYOK_ENCRYPTION_KEY``: a key file in ``DATA_DIR`` for the
    embedded default; on Firestore none at all (each instance would make its own, and none could
    read another's records), so storing a key fails and stored ones read as unreadable."""
    configured = settings.byok_encryption_key
    if configured is None and settings.store == "firestore":
        return KeyCipher(list)
    if configured is None:
        return file_cipher(settings.data_dir / "byok.key")
    keys = [k.strip().encode() for k in configured.get_secret_value().split(",") if k.strip()]
    return KeyCipher(lambda: keys)


def decrypt_key(cipher: KeyCipher, provider: str, token: str) -> str:
    """A stored provider key in the clear; ``UnreadableKey`` naming the provider if it can't be."""
    from shared.stores.base import UnreadableKey

    try:
        return cipher.decrypt(token)
    except Undecryptable:
        raise UnreadableKey(provider) from None
