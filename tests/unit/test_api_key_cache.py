"""Gateway key lookups: one store read, then cached per instance; revocation reaches another instance
within API_KEY_CACHE_SECONDS; last_used_at is written at most once per API_KEY_TOUCH_SECONDS.

Two ``ApiKeyService`` instances share one SQLite file (two function instances sharing the store);
the clock is a fake one."""

from __future__ import annotations

import pytest

from shared.services.api_keys import ApiKeyService, InvalidApiKey
from shared.stores.base import UserRecord
from shared.stores.factory import open_sqlite
from tests.fakes.clock import FakeClock


class Users:
    def record_of(self, user_id: str) -> UserRecord:
        return UserRecord(user_id, tier="donor", limit_override=7)


class Counting:
    """The key store, counting what reaches it."""

    def __init__(self, store) -> None:
        self.store = store
        self.reads = self.touches = 0

    def by_digest(self, digest):
        self.reads += 1
        return self.store.by_digest(digest)

    def touch(self, digest, now):
        self.touches += 1
        return self.store.touch(digest, now)

    def __getattr__(self, name):
        return getattr(self.store, name)


@pytest.fixture
def two_instances(tmp_path):
    stores = open_sqlite(tmp_path / "keys.sqlite3")
    clock = FakeClock()
    a, b = Counting(stores.api_keys), Counting(stores.api_keys)
    yield clock, (a, ApiKeyService(a, Users(), clock, 60, 3600)), (b, ApiKeyService(b, Users(), clock, 60, 3600))
    stores.close()


def test_a_key_acts_as_its_user_with_one_read_then_the_cache(two_instances):
    clock, (store, keys), _ = two_instances
    made = keys.create("alice", "bot")
    caller = keys.caller(made.secret, "203.0.113.9")
    assert (caller.key, caller.user_id, caller.tier, caller.limit_override, caller.admin) == (
        "user:alice", "alice", "donor", 7, False
    )
    for _ in range(20):
        keys.caller(made.secret, "203.0.113.9")
        clock.advance(2)
    assert store.reads == 1, "one store read, then the instance's cache"
    clock.advance(60)
    keys.caller(made.secret, "203.0.113.9")
    assert store.reads == 2, "read again after API_KEY_CACHE_SECONDS"


def test_revocation_is_at_once_here_and_within_the_cache_time_elsewhere(two_instances):
    clock, (_, here), (_, there) = two_instances
    made = here.create("alice", "bot")
    there.caller(made.secret, "ip")  # the other instance has it cached
    here.revoke("alice", made.record.id)
    with pytest.raises(InvalidApiKey):
        here.caller(made.secret, "ip")
    clock.advance(59)
    assert there.caller(made.secret, "ip").user_id == "alice", "still cached on the other instance"
    clock.advance(1)
    with pytest.raises(InvalidApiKey):
        there.caller(made.secret, "ip")


def test_last_used_is_written_at_most_once_an_hour(two_instances):
    clock, (store, keys), _ = two_instances
    made = keys.create("alice", "bot")
    for _ in range(150):  # a busy hour and a quarter
        keys.caller(made.secret, "ip")
        clock.advance(30)
    assert store.touches == 1 + 1, "the first use, then once more when the hour was up"
    assert keys.list("alice")[0].last_used_at == pytest.approx(made.record.created_at + 3600, abs=30)


def test_unknown_keys_are_refused_and_cached_too(two_instances):
    _, (store, keys), _ = two_instances
    for _ in range(3):
        with pytest.raises(InvalidApiKey):
            keys.caller("sk-gw-nope", "ip")
    assert store.reads == 1
    with pytest.raises(InvalidApiKey):
        keys.caller("sk-gw-" + "x" * 500, "ip")
