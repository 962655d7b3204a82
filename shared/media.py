"""Where generated files (and uploaded inputs) live, served by signed, expiring URLs.

``LocalMediaStore`` is the embedded default: a directory, URLs signed with HMAC-SHA256 and
served by the ``media`` function. Bucket stores sign their own URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import os
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlencode

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,80}(/[A-Za-z0-9_-]{1,80})*\.(png|jpg|jpeg|webp|mp4|txt)$")
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".txt": "text/plain; charset=utf-8",
}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def content_type_for(key: str) -> str:
    suffix = os.path.splitext(key)[1].lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


class MediaStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def read(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> None: ...

    def url(self, key: str, now: float) -> str:
        """A URL anyone holding it can GET until it expires."""

    serves_files: bool  # True: the ``media`` function serves the URLs (below); False: the bucket does

    def verify(self, key: str, expires: str | None, signature: str | None, now: float) -> bool:
        """Whether a URL's ``exp`` and ``sig`` are ours and unexpired (any text: hostile input)."""

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key``, or None (bad key, or no local files)."""


_EXPIRES = re.compile(r"^[0-9]{1,12}$")  # ASCII digits only: "²" passes str.isdigit() and breaks int()
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


class LocalMediaStore:
    serves_files = True

    def __init__(self, root: Path, signing_key: bytes, url_prefix: str, ttl_seconds: int) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._signing_key = signing_key
        self.url_prefix = url_prefix.rstrip("/")
        self.ttl_seconds = ttl_seconds

    def path_for(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError("invalid media key")
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError("invalid media key")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def read(self, key: str) -> bytes | None:
        try:
            return self.path_for(key).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, key: str) -> None:
        try:
            self.path_for(key).unlink()
        except (FileNotFoundError, ValueError):
            pass

    def signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def url(self, key: str, now: float) -> str:
        expires = int(now) + self.ttl_seconds
        query = urlencode({"exp": expires, "sig": self.signature(key, expires)})
        return f"{self.url_prefix}/{quote(key)}?{query}"

    def verify(self, key: str, expires: str | None, signature: str | None, now: float) -> bool:
        if not expires or not signature or not _EXPIRES.match(expires) or not _SIGNATURE.match(signature):
            return False
        if int(expires) < now:
            return False
        return hmac.compare_digest(self.signature(key, int(expires)), signature)

    def local_path(self, key: str) -> Path | None:
        try:
            return self.path_for(key)
        except ValueError:
            return None
