"""Open the configured store implementation as one bundle of per-aggregate stores."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shared.stores.base import (
    AlertStore,
    AnalyticsStore,
    BudgetStore,
    CacheStore,
    JobStore,
    LimiterStore,
    MetricsStore,
    ProviderStateStore,
    UsageStore,
    UserKeyStore,
    UserStore,
)
from shared.stores.base_money import ApiKeyStore, SubscriptionStore

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.secretbox import KeyCipher
    from shared.stores.firestore.db import OpCounter


log = logging.getLogger("gateway.stores")


@dataclass
class Stores:
    jobs: JobStore
    limiter: LimiterStore
    users: UserStore
    provider_state: ProviderStateStore  # circuit breakers shared by every instance
    user_keys: UserKeyStore  # users' own provider keys (BYOK), encrypted
    cache: CacheStore  # text answers by request hash
    budgets: BudgetStore  # spend budgets (shared.budget)
    usage: UsageStore  # every generation per caller: text requests here, media jobs in ``jobs``
    subscriptions: SubscriptionStore  # payments: requests, their state, processed webhook events
    api_keys: ApiKeyStore  # gateway API keys (hashed)
    analytics: AnalyticsStore  # daily counters, visitors per day (shared.services.analytics)
    metrics: MetricsStore  # the metrics history (shared.services.metrics)
    alerts: AlertStore  # alerts and their history (shared.services.alerts)
    close: Callable[[], None] = field(default=lambda: None)
    compact: Callable[[], int] = field(default=lambda: 0)  # give free space back after deletes: bytes (SQLite)
    database_path: Path | None = None  # the SQLite file (backups); None on Firestore
    ops: OpCounter | None = None  # store operations counted as billed (Firestore only)


def open_sqlite(path: Path, cipher: KeyCipher | None = None, busy_timeout_seconds: float = 15.0) -> Stores:
    """``cipher`` encrypts users' keys; by default a random key kept beside the database file.
    ``busy_timeout_seconds``: how long a write waits for another writer's lock before ``Contention``."""
    from shared.secretbox import file_cipher
    from shared.stores.sqlite.analytics import SqliteAnalyticsStore
    from shared.stores.sqlite.budgets import SqliteBudgetStore
    from shared.stores.sqlite.cache import SqliteCacheStore
    from shared.stores.sqlite.db import SqliteDatabase
    from shared.stores.sqlite.jobs import SqliteJobStore
    from shared.stores.sqlite.limiter import SqliteLimiterStore
    from shared.stores.sqlite.money import SqliteApiKeyStore, SqliteSubscriptionStore
    from shared.stores.sqlite.ops_history import SqliteAlertStore, SqliteMetricsStore
    from shared.stores.sqlite.provider_state import SqliteProviderStateStore
    from shared.stores.sqlite.usage import SqliteUsageStore
    from shared.stores.sqlite.user_keys import SqliteUserKeyStore
    from shared.stores.sqlite.users import SqliteUserStore

    db = SqliteDatabase(path, busy_timeout_ms=round(busy_timeout_seconds * 1000))
    return Stores(
        jobs=SqliteJobStore(db),
        limiter=SqliteLimiterStore(db),
        users=SqliteUserStore(db),
        provider_state=SqliteProviderStateStore(db),
        user_keys=SqliteUserKeyStore(db, cipher or file_cipher(Path(path).parent / "byok.key")),
        cache=SqliteCacheStore(db),
        budgets=SqliteBudgetStore(db),
        usage=SqliteUsageStore(db),
        subscriptions=SqliteSubscriptionStore(db),
        api_keys=SqliteApiKeyStore(db),
        analytics=SqliteAnalyticsStore(db),
        metrics=SqliteMetricsStore(db),
        alerts=SqliteAlertStore(db),
        close=db.close,
        compact=db.compact,
        database_path=db.path,
    )


def open_firestore(settings: Settings, cipher: KeyCipher | None = None) -> Stores:
    """``cipher`` encrypts users' keys; by default the one ``BYOK_ENCRYPTION_KEY`` configures."""
    from shared.secretbox import cipher_for
    from shared.stores.firestore.analytics import FirestoreAnalyticsStore
    from shared.stores.firestore.budgets import FirestoreBudgetStore
    from shared.stores.firestore.cache import FirestoreCacheStore
    from shared.stores.firestore.db import FirestoreDb
    from shared.stores.firestore.jobs import FirestoreJobStore
    from shared.stores.firestore.limiter import FirestoreLimiterStore
    from shared.stores.firestore.money import FirestoreApiKeyStore, FirestoreSubscriptionStore
    from shared.stores.firestore.ops_history import FirestoreAlertStore, FirestoreMetricsStore
    from shared.stores.firestore.provider_state import FirestoreProviderStateStore
    from shared.stores.firestore.usage import FirestoreUsageStore
    from shared.stores.firestore.user_keys import FirestoreUserKeyStore
    from shared.stores.firestore.users import FirestoreUserStore

    db = FirestoreDb(
        settings.firestore_project,
        settings.firestore_database,
        settings.firestore_prefix,
        settings.firestore_emulator_host,
        settings.firestore_timeout_seconds,
    )
    limiter = FirestoreLimiterStore(db, settings.firestore_limiter_ttl_seconds)
    budgets = FirestoreBudgetStore(db)

    def close() -> None:
        try:
            budgets.flush()  # hand back budget leased to this instance
        except Exception:
            log.exception("budget hand-back failed at shutdown")
        db.close()

    return Stores(
        jobs=FirestoreJobStore(db),
        limiter=limiter,
        users=FirestoreUserStore(db),
        provider_state=FirestoreProviderStateStore(db),
        user_keys=FirestoreUserKeyStore(db, cipher or cipher_for(settings)),
        cache=FirestoreCacheStore(db),
        budgets=budgets,
        usage=FirestoreUsageStore(db),
        subscriptions=FirestoreSubscriptionStore(db),
        api_keys=FirestoreApiKeyStore(db),
        analytics=FirestoreAnalyticsStore(db, settings.analytics.shards, settings.retention_seconds),
        metrics=FirestoreMetricsStore(db, settings.retention_seconds),
        alerts=FirestoreAlertStore(db, settings.retention_seconds),
        close=close,
        ops=db.ops,
    )
