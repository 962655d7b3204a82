"""The media use case: open a generated file that a signed, unexpired URL names.

Only the embedded default serves files itself (``LocalMediaStore``); a bucket serves its own
presigned URLs, so for it every key is unknown here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared import errors
from shared.clock import Clock
from shared.media import MediaStore, content_type_for


@dataclass(frozen=True)
class MediaFile:
    path: Path
    content_type: str


class MediaService:
    def __init__(self, store: MediaStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def open(self, key: str, expires: str | None, signature: str | None) -> MediaFile:
        if not self.store.serves_files:
            raise errors.NotFound()
        if not self.store.verify(key, expires, signature, self.clock.now()):
            raise errors.Forbidden("This media link is invalid or has expired.")
        path = self.store.local_path(key)
        if path is None or not path.is_file():
            raise errors.NotFound("This file no longer exists.")
        return MediaFile(path, content_type_for(key))
