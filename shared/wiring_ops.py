"""The operations use cases (cleanup, backup) of the composition root, as mixins of
``shared.wiring.Gateway`` and ``shared.wiring.Services``: built once per instance from ``Settings``
(``Gateway.cleanup_service``, ``Gateway.backup_service``) and reached by handlers, and later by
the admin API, as ``wiring.services().cleanup`` and ``wiring.services().backup``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from shared.meter import METER

if TYPE_CHECKING:
    from shared.clock import Clock
    from shared.config import Settings
    from shared.jobs.runner import JobRunner
    from shared.media import MediaStore
    from shared.ratelimit.load import LoadMonitor
    from shared.services.alerts import AlertService
    from shared.services.analytics import AnalyticsService
    from shared.services.backup import BackupService
    from shared.services.budget import BudgetService
    from shared.services.cleanup import CleanupService
    from shared.services.events import SiteEvents
    from shared.services.metrics import MetricsService
    from shared.stores.factory import Stores


class OperationsWiring:
    """Mixed into ``Gateway`` (which provides these attributes)."""

    settings: Settings
    clock: Clock
    stores: Stores
    media: MediaStore
    budget_service: BudgetService
    runner: JobRunner
    load: LoadMonitor

    def _secret(self, name: str) -> bytes: ...  # Gateway's

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
        history = {"metrics": stores.metrics, "alerts": stores.alerts, "analytics": stores.analytics}
        return CleanupService(
            stores.jobs, stores.limiter, stores.cache, self.media, self.clock, policy,
            compact=stores.compact, pending_subscriptions=stores.subscriptions,
            history=history,
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


    # -- analytics, metrics and alerts (README "Analytics", "Metrics and alerts") ----------------

    @cached_property
    def analytics_service(self) -> AnalyticsService:
        import hashlib
        import hmac

        from shared.services.analytics import AnalyticsService

        s = self.settings
        key = hmac.new(self._secret("session_secret"), b"analytics-visitors", hashlib.sha256).digest()
        tiers = sorted({*s.tier_limits, "registered", "donor"} - {"anonymous"})
        a, tz = s.analytics, s.budget_timezone
        return AnalyticsService(self.stores.analytics, self.clock, tz, key, a.pages, tiers, a.flush_seconds)

    @cached_property
    def site_events(self) -> SiteEvents:
        from shared.services.events import SiteEvents

        return SiteEvents(self.analytics_service, self.clock, self.settings.events.per_minute)

    @cached_property
    def metrics_service(self) -> MetricsService:
        from shared.services.metrics import MetricsPolicy, MetricsService

        s, m = self.settings, self.settings.metrics
        policy = MetricsPolicy(m.interval_seconds, m.window_seconds, m.sample_jobs, s.memory_limit_mb)
        return MetricsService(self.stores.metrics, self.stores.jobs, self.load, self.clock, METER, policy)

    @cached_property
    def alert_service(self) -> AlertService:
        from shared.analytics.alerts import Thresholds
        from shared.services.alerts import AlertService, Notifier

        a = self.settings.alert
        thresholds = Thresholds(
            *(a.cpu_percent / 100, a.memory_percent / 100, a.error_rate_percent / 100),
            *(a.response_seconds, a.queue_wait_seconds, a.clear_ratio, a.min_jobs, tuple(a.budget_fractions)),
        )
        notifier: Notifier | None = None
        if a.webhook_url:
            from shared.webhook import WebhookNotifier

            secret = a.webhook_secret.get_secret_value().encode() if a.webhook_secret is not None else None
            notifier = WebhookNotifier(a.webhook_url, secret, a.webhook_attempts)
        report = self.budget_service.report
        return AlertService(self.stores.alerts, self.metrics_service, report, self.clock, thresholds, notifier)

    def close_operations(self) -> None:
        if "analytics_service" in self.__dict__:
            self.analytics_service.flush()  # site events summed in memory


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

    @property
    def analytics(self) -> AnalyticsService:
        """Recorded by the job runner and the text service; ``report(days)`` for the admin API."""
        return self._gw.analytics_service

    @property
    def events(self) -> SiteEvents:
        """``record(kind, page, caller, user_agent)``: the site's page views and conversion events."""
        return self._gw.site_events

    @property
    def metrics(self) -> MetricsService:
        """The metrics history: each instance's points, the scheduled run's, ``history(hours)``."""
        return self._gw.metrics_service

    @property
    def alerts(self) -> AlertService:
        """``evaluate()`` (the scheduled run, the admin API), ``alerts(open_only)``, ``deliver(timeout)``."""
        return self._gw.alert_service


def _record_instance_point() -> None:
    """Called by the request meter (in a background thread) once a minute while requests arrive."""
    from shared import wiring

    if wiring.built() is None:  # nothing built (or torn down since the request): nothing to measure
        return
    wiring.services().metrics.record_instance()


METER.on_due = _record_instance_point
