"""Backups (README "Backup and restore").

The embedded default (SQLite): a consistent copy made with SQLite's online backup API while the
server runs, gzip-compressed into the media store (the folder or the bucket) as
``backups/gateway-<UTC time>.sqlite3.gz``; the newest ``keep`` stay. ``restore`` puts one back.
Firestore: a managed export of the durable collections to ``BACKUP_BUCKET``.

The scheduled run (the cleanup task) calls ``run()``: it does nothing while the newest backup is
younger than ``min_interval`` (a redelivered message, a cleanup scheduled more often than daily);
``run(force=True)`` (the command line, the admin task) always makes one.
"""

from __future__ import annotations

import calendar
import logging
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shared.clock import Clock
from shared.media import MediaStore, StoredObject
from shared.stores.base import CacheStore

if TYPE_CHECKING:
    from shared.stores.firestore.export import FirestoreExporter

log = logging.getLogger("gateway.backup")

FOLDER = "backups/"
_NAME = re.compile(r"^gateway-(\d{8}T\d{6})Z\.sqlite3\.gz$")
LAST_EXPORT = "ops:backup:last-export"  # Firestore: when the last export started (response cache)
DAY = 86400.0


class NoSuchBackup(LookupError):
    pass


@dataclass(frozen=True)
class BackupResult:
    kind: str  # "sqlite", "firestore_export" or "skipped"
    name: str | None = None  # sqlite: the backup's name (what restore takes)
    bytes: int = 0  # sqlite: its compressed size
    removed: list[str] = field(default_factory=list)  # sqlite: older backups deleted (past ``keep``)
    operation: str | None = None  # firestore: the export's long-running operation
    output_uri: str | None = None  # firestore: where the export goes
    reason: str | None = None  # skipped: why


def backup_name(now: float) -> str:
    return f"gateway-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}Z.sqlite3.gz"


def made_at(name: str) -> float | None:
    """When the backup ``name`` was made (from its name), or None for another file."""
    match = _NAME.match(name)
    if match is None:
        return None
    return float(calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%S")))


class BackupService:
    def __init__(
        self,
        media: MediaStore,
        clock: Clock,
        keep: int,
        database: Path | None = None,  # the SQLite file; None: Firestore
        exporter: FirestoreExporter | None = None,  # Firestore with BACKUP_BUCKET
        cache: CacheStore | None = None,  # remembers the last export (Firestore)
        min_interval: float = 20 * 3600.0,
    ) -> None:
        self.media = media
        self.clock = clock
        self.keep = keep
        self.database = database
        self.exporter = exporter
        self.cache = cache
        self.min_interval = min_interval

    def run(self, force: bool = False) -> BackupResult:
        now = self.clock.now()
        if self.database is not None:
            newest = self.backups()[:1]
            made = made_at(newest[0].key.removeprefix(FOLDER)) if newest else None
            if not force and made is not None and now - made < self.min_interval:
                return BackupResult("skipped", name=newest[0].key.removeprefix(FOLDER), reason="recent")
            return self._sqlite(now)
        if self.exporter is None:
            return BackupResult("skipped", reason="BACKUP_BUCKET is not set")
        last = self.cache.get(LAST_EXPORT, now) if self.cache is not None else None
        if not force and last is not None and now - float(last["at"]) < self.min_interval:
            return BackupResult("skipped", operation=last.get("operation"), reason="recent")
        started = self.exporter.export(now)
        if self.cache is not None:
            self.cache.put(LAST_EXPORT, {"at": now, "operation": started.operation}, now + 2 * DAY)
        log.info("firestore export started", extra={"fields": {"operation": started.operation}})
        return BackupResult("firestore_export", operation=started.operation, output_uri=started.output_uri)

    def backups(self) -> list[StoredObject]:
        """The SQLite backups in the media store, newest first."""
        found: list[StoredObject] = []
        after = ""
        while True:
            page = self.media.objects(FOLDER, after, 1000)
            found.extend(o for o in page if made_at(o.key.removeprefix(FOLDER)) is not None)
            if len(page) < 1000:
                break
            after = page[-1].key
        return sorted(found, key=lambda o: o.key, reverse=True)

    def _sqlite(self, now: float) -> BackupResult:
        from shared.stores.sqlite import backup as sqlite_backup

        assert self.database is not None
        if not self.database.is_file():
            return BackupResult("skipped", reason=f"no database at {self.database}")
        name = backup_name(now)
        with tempfile.TemporaryDirectory(dir=self.database.parent, prefix=".backup-") as work:
            copy, packed = Path(work) / "copy.sqlite3", Path(work) / name
            sqlite_backup.snapshot(self.database, copy)
            size = sqlite_backup.compress(copy, packed)
            self.media.upload(FOLDER + name, packed)
        removed = [o.key.removeprefix(FOLDER) for o in self.backups()[self.keep :]]
        for old in removed:
            self.media.delete(FOLDER + old)
        log.info("backup made", extra={"fields": {"name": name, "bytes": size, "removed": len(removed)}})
        return BackupResult("sqlite", name=name, bytes=size, removed=removed)

    def restore(self, name: str, target: Path, force: bool = False) -> Path | None:
        """Put the backup ``name`` at ``target`` (see ``sqlite.backup.restore``); the path the
        replaced database was saved to, if one was replaced."""
        from shared.stores.sqlite import backup as sqlite_backup

        if made_at(name) is None:
            raise NoSuchBackup(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".restore-") as work:
            packed, copy = Path(work) / name, Path(work) / "copy.sqlite3"
            if not self.media.download(FOLDER + name, packed):
                raise NoSuchBackup(name)
            sqlite_backup.decompress(packed, copy)
            keep_as = None
            if target.exists():
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock.now()))
                keep_as = target.with_name(f"{target.name}.before-restore-{stamp}")
            sqlite_backup.restore(copy, target, force, keep_as)
        return keep_as if keep_as is not None and keep_as.exists() else None
