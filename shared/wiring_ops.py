"""The operations use cases (cleanup, backup) of the composition root, as mixins of
``shared.wiring.Gateway`` and ``shared.wiring.Services``: built once per instance from ``Settings``
(``Gateway.cleanup_service``, ``Gateway.backup_service``) and reached by handlers, and later by
the admin API, as ``wiring.services().cleanup`` and ``wiring.services().backup``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.clock import Clock
    from shared.config import Settings
    from shared.media import MediaStore
    from shared.services.backup import BackupService
    from shared.services.cleanup import CleanupService
    from shared.stores.factory import Stores


class OperationsWiring:
    """Mixed into ``Gateway`` (which provides these attributes)."""

    settings: Settings
    clock: Clock
    stores: Stores
    media: MediaStore

    @cached_property
    def cleanup_service(self) -> CleanupService:
        from shared.services.cleanup import CleanupPolicy, CleanupService

        s = self.settings
        policy = CleanupPolicy(
            retention_seconds=s.retention_seconds,
            limiter_idle_seconds=s.firestore_limiter_ttl_seconds,  # the same idle time on both stores
            batch_size=s.cleanup_batch_size,
            max_seconds=s.cleanup_max_seconds,
        )
        stores = self.stores
        return CleanupService(
            stores.jobs, stores.limiter, stores.cache, self.media, self.clock, policy, compact=stores.compact
        )

    @cached_property
    def backup_service(self) -> BackupService:
        from shared.services.backup import BackupService

        s = self.settings
        if s.store == "sqlite":  # the file itself: a backup never needs the stores opened
            return BackupService(self.media, self.clock, s.backup_keep, database=s.resolved_sqlite_path)
        exporter = None
        if s.backup_bucket:
            from shared.stores.firestore.export import FirestoreExporter

            exporter = FirestoreExporter(s.backup_bucket, s.firestore_project, s.firestore_database, s.firestore_prefix)
        return BackupService(self.media, self.clock, s.backup_keep, exporter=exporter, cache=self.stores.cache)


class OperationsServices:
    """Mixed into ``Services``."""

    _gw: OperationsWiring

    @property
    def cleanup(self) -> CleanupService:
        """``run(max_seconds=None, max_batches=None) -> CleanupReport`` (the scheduled task, the admin API)."""
        return self._gw.cleanup_service

    @property
    def backup(self) -> BackupService:
        """``run(force=False) -> BackupResult`` (the scheduled task; the admin API forces one)."""
        return self._gw.backup_service
