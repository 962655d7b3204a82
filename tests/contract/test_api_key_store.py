"""The gateway API key store contract: stored by the secret's hash, listed per user, revoked, touched.

Runs on every store (SQLite; Firestore on the emulator)."""

from __future__ import annotations

import hashlib

from shared.stores.base_money import ApiKeyRecord

NOW = 1_800_000_000.0


def _key(number: int, user: str = "alice", at: float = NOW) -> tuple[str, ApiKeyRecord]:
    secret = f"sk-gw-secret-number-{number}-0123456789abcdef"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return secret, ApiKeyRecord(f"key_{number}", digest, user, f"script {number}", secret[:10], at)


def _everything_stored(store) -> str:
    db = store.db
    if hasattr(db, "conn"):
        return repr([tuple(row) for row in db.conn.execute("SELECT * FROM api_keys").fetchall()])
    return repr([(snap.id, snap.to_dict()) for snap in db.collection("api_keys").stream()])


def test_a_key_is_found_by_the_hash_of_its_secret_and_the_secret_is_not_stored(stores):
    keys = stores.api_keys
    secret, record = _key(1)
    keys.create(record)
    assert keys.by_digest(record.digest) == record
    assert keys.by_digest(hashlib.sha256(b"sk-gw-other").hexdigest()) is None
    assert secret not in _everything_stored(keys) and record.digest in _everything_stored(keys)


def test_keys_are_listed_per_user_newest_first(stores):
    keys = stores.api_keys
    for number, user, at in ((1, "alice", NOW), (2, "bob", NOW + 1), (3, "alice", NOW + 2)):
        keys.create(_key(number, user, at)[1])
    assert [k.id for k in keys.list_for("alice")] == ["key_3", "key_1"]
    assert [k.id for k in keys.list_for("bob")] == ["key_2"]
    assert keys.list_for("carol") == []


def test_a_key_is_revoked_by_its_owner_or_by_anyone_when_no_owner_is_named(stores):
    keys = stores.api_keys
    _, first = _key(1)
    _, second = _key(2, "bob")
    keys.create(first)
    keys.create(second)
    assert keys.delete("key_1", "bob") is None, "not bob's"
    assert keys.by_digest(first.digest) is not None
    assert keys.delete("key_1", "alice") == first
    assert keys.by_digest(first.digest) is None
    assert keys.delete("key_1", "alice") is None, "gone already"
    assert keys.delete("key_2") == second, "an admin names no owner"
    assert keys.list_for("bob") == []


def test_touch_sets_last_used(stores):
    keys = stores.api_keys
    _, record = _key(1)
    keys.create(record)
    keys.touch(record.digest, NOW + 3600)
    assert keys.by_digest(record.digest).last_used_at == NOW + 3600
    keys.touch("0" * 64, NOW)  # a key that is gone: nothing happens
