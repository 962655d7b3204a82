"""The response cache store contract: values by key until they expire. Runs on every store."""

from __future__ import annotations

import hashlib

NOW = 1_800_000_000.0
KEY = hashlib.sha256(b"a canonical request").hexdigest()
VALUE = {"text": "Once upon a time", "provider": "openai", "model": "m", "usage": {"prompt_tokens": 9}}


def test_a_value_is_served_until_it_expires(stores):
    cache = stores.cache
    assert cache.get(KEY, NOW) is None
    cache.put(KEY, VALUE, NOW + 60)
    assert cache.get(KEY, NOW) == VALUE
    assert cache.get(KEY, NOW + 59.5) == VALUE
    assert cache.get(KEY, NOW + 60) is None
    assert cache.get(hashlib.sha256(b"another").hexdigest(), NOW) is None


def test_a_new_value_replaces_the_old_one_and_its_expiry(stores):
    cache = stores.cache
    cache.put(KEY, VALUE, NOW + 10)
    cache.put(KEY, {**VALUE, "text": "newer"}, NOW + 100)
    assert cache.get(KEY, NOW + 50) == {**VALUE, "text": "newer"}


def test_purge_deletes_only_expired_entries(stores):
    cache = stores.cache
    old, fresh = (hashlib.sha256(name).hexdigest() for name in (b"old", b"fresh"))
    cache.put(old, VALUE, NOW + 10)
    cache.put(fresh, VALUE, NOW + 1000)
    assert cache.purge(NOW + 500) == 1
    assert cache.purge(NOW + 500) == 0
    assert cache.get(fresh, NOW) == VALUE and cache.get(old, NOW) is None
