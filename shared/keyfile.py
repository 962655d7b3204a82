"""Per-installation random secrets for the embedded default (production sets them by env)."""

from __future__ import annotations

import os
from pathlib import Path


def load_or_create(path: Path) -> bytes:
    """A per-installation random key for the embedded default (production sets one).

    Written to a temporary file and linked into place, so concurrent first starts agree.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()
