"""Where generated files (and uploaded inputs) live, served by signed, expiring URLs.

``LocalMediaStore`` is the embedded default: a directory, URLs signed with HMAC-SHA256 and
served by the ``media`` function. Bucket stores sign their own URLs.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import mimetypes
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
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
COPY_CHUNK = 256 * 1024  # a streamed result is copied this much at a time


# Operations files (database backups) live beside the media under their own prefix. No media URL
# ever names one: ``valid_key`` refuses them, so the media function never serves them.
_OPS_KEY = re.compile(r"^backups/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,120}$")


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def ops_key(key: str) -> bool:
    return bool(_OPS_KEY.match(key)) and ".." not in key


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: float  # epoch seconds of the last write


def content_type_for(key: str) -> str:
    suffix = os.path.splitext(key)[1].lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


class MediaStore(Protocol):
    def put(self, key: str, data: bytes | IO[bytes], content_type: str) -> None:
        """Store bytes, or a file streamed from where it stands (a large result is never read whole)."""

    def read(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> None: ...

    def url(self, key: str, now: float) -> str:
        """A URL anyone holding it can GET until it expires."""

    serves_files: bool  # True: the ``media`` function serves the URLs (below); False: the bucket does

    def verify(self, key: str, expires: str | None, signature: str | None, now: float) -> bool:
        """Whether a URL's ``exp`` and ``sig`` are ours and unexpired (any text: hostile input)."""

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key``, or None (bad key, or no local files)."""

    def objects(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[StoredObject]:
        """Up to ``limit`` media or operations objects under the folder ``prefix`` ("outputs/"),
        in key order, after ``start_after``."""

    def upload(self, key: str, source: Path) -> None:
        """Store a file under an operations key (``backups/...``), streamed from disk."""

    def download(self, key: str, target: Path) -> bool:
        """Write an operations object to ``target``; False if there is none."""


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

    def put(self, key: str, data: bytes | IO[bytes], content_type: str) -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with tmp.open("wb") as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, COPY_CHUNK)
            os.replace(tmp, path)  # readers see the whole file or none
        except BaseException:
            tmp.unlink(missing_ok=True)  # e.g. a full disk: no half-written file left behind
            raise

    def read(self, key: str) -> bytes | None:
        try:
            return self.path_for(key).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, key: str) -> None:
        """A media key or an operations key; one already gone is fine."""
        try:
            (self._ops_path(key) if ops_key(key) else self.path_for(key)).unlink()
        except (FileNotFoundError, ValueError):
            pass

    def _ops_path(self, key: str) -> Path:
        if not ops_key(key):
            raise ValueError("invalid operations key")
        return self.root / key

    def objects(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[StoredObject]:
        folder = self.root / prefix
        if not prefix.endswith("/") or self.root not in folder.resolve().parents or not folder.is_dir():
            return []
        root = str(self.root) + os.sep
        keys = []  # plain strings: a folder of 100k files is listed in well under a second
        for directory, _dirs, names in os.walk(folder):
            base = directory.removeprefix(root).replace(os.sep, "/")
            for name in names:
                key = f"{base}/{name}"
                if key > start_after and (valid_key(key) or ops_key(key)):  # never a half-written .tmp
                    keys.append(key)
        found = []
        for key in heapq.nsmallest(limit, keys):
            try:
                stat = os.stat(root + key)
            except FileNotFoundError:  # deleted meanwhile
                continue
            found.append(StoredObject(key, stat.st_size, stat.st_mtime))
        return found

    def upload(self, key: str, source: Path) -> None:
        path = self._ops_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)

    def download(self, key: str, target: Path) -> bool:
        try:
            shutil.copyfile(self._ops_path(key), target)
        except (FileNotFoundError, ValueError):
            return False
        return True

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
