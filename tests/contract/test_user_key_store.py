"""The user key (BYOK) store contract: keys in and out, encrypted at rest. Runs on every store."""

from __future__ import annotations

import pytest

from shared.secretbox import KeyCipher
from shared.stores.base import StoredKey, UnreadableKey

NOW = 1_800_000_000.0
SECRET = "sk-user-0123456789abcdefWXYZ"


def _everything_stored(store) -> str:
    """Every byte the store keeps for users' keys, as text (whatever the implementation)."""
    db = store.db
    if hasattr(db, "conn"):
        return repr([tuple(row) for row in db.conn.execute("SELECT * FROM user_keys").fetchall()])
    return repr([snap.to_dict() for snap in db.collection("user_keys").stream()])


def _reopened(store, cipher: KeyCipher):
    """The same storage read through another cipher (another instance, another key)."""
    return type(store)(store.db, cipher)


def test_a_stored_key_comes_back_only_to_its_user(stores):
    keys = stores.user_keys
    assert keys.keys_for("alice") == {} and keys.get_key("alice", "openai") is None
    keys.put_key("alice", "openai", SECRET, NOW)
    keys.put_key("alice", "stability", "sk-stab-abcdefghijkl", NOW + 1)
    assert keys.get_key("alice", "openai") == SECRET
    assert keys.keys_for("alice") == {"openai": SECRET, "stability": "sk-stab-abcdefghijkl"}
    assert keys.keys_for("bob") == {} and keys.get_key("bob", "openai") is None


def test_listing_shows_the_provider_and_last_four_characters_only(stores):
    keys = stores.user_keys
    keys.put_key("alice", "stability", "sk-stab-abcdefghijkl", NOW)
    keys.put_key("alice", "openai", SECRET, NOW + 5)
    keys.put_key("alice", "gemini", "short", NOW + 6)
    assert keys.list_keys("alice") == [
        StoredKey("gemini", "", NOW + 6),  # too short to show any of it
        StoredKey("openai", "WXYZ", NOW + 5),
        StoredKey("stability", "ijkl", NOW),
    ]
    assert keys.list_keys("bob") == []


def test_replacing_and_deleting_a_key(stores):
    keys = stores.user_keys
    keys.put_key("alice", "openai", SECRET, NOW)
    keys.put_key("alice", "openai", "sk-second-key-000000", NOW + 10)
    assert keys.get_key("alice", "openai") == "sk-second-key-000000"
    assert keys.list_keys("alice") == [StoredKey("openai", "0000", NOW + 10)]
    keys.put_key("alice", "stability", "sk-stab-abcdefghijkl", NOW)
    assert keys.delete_key("alice", "openai") is True
    assert keys.delete_key("alice", "openai") is False
    assert keys.delete_key("nobody", "openai") is False
    assert keys.keys_for("alice") == {"stability": "sk-stab-abcdefghijkl"}


def test_keys_are_encrypted_at_rest(stores):
    keys = stores.user_keys
    keys.put_key("alice", "openai", SECRET, NOW)
    stored = _everything_stored(keys)
    assert "alice" in stored or "openai" in stored  # the dump does see the records
    assert SECRET not in stored and SECRET[:-4] not in stored
    with pytest.raises(UnreadableKey) as raised:
        _reopened(keys, KeyCipher.of(KeyCipher.generate())).keys_for("alice")
    assert raised.value.provider == "openai" and SECRET not in str(raised.value)


def test_a_rotated_encryption_key_still_reads_old_records(stores):
    old = KeyCipher.generate()
    before = _reopened(stores.user_keys, KeyCipher.of(old))
    before.put_key("alice", "openai", SECRET, NOW)
    after = _reopened(stores.user_keys, KeyCipher.of(KeyCipher.generate(), old))
    assert after.get_key("alice", "openai") == SECRET
    after.put_key("alice", "stability", "sk-stab-abcdefghijkl", NOW)  # written with the new key
    with pytest.raises(UnreadableKey):
        before.get_key("alice", "stability")
