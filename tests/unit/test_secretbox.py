"""The cipher behind users' stored keys: which key it uses, rotation, and refusing to guess."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.secretbox import KeyCipher, Undecryptable, cipher_for, hint

SECRET = "sk-user-0123456789abcdef"


def test_the_embedded_default_keeps_one_random_key_in_the_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path)
    token = cipher_for(settings).encrypt(SECRET)
    assert SECRET not in token and (tmp_path / "byok.key").exists()
    assert cipher_for(Settings(data_dir=tmp_path)).decrypt(token) == SECRET  # a restart reads it back


def test_a_configured_key_list_encrypts_with_the_first_and_reads_with_all():
    old, new = KeyCipher.generate(), KeyCipher.generate()
    token = cipher_for(Settings(byok_encryption_key=old)).encrypt(SECRET)
    rotated = cipher_for(Settings(byok_encryption_key=f"{new}, {old}"))
    assert rotated.decrypt(token) == SECRET
    with pytest.raises(Undecryptable):
        cipher_for(Settings(byok_encryption_key=old)).decrypt(rotated.encrypt(SECRET))
    with pytest.raises(Undecryptable):
        rotated.decrypt(token[:-4] + "AAAA")  # altered


def test_firestore_without_a_configured_key_refuses_instead_of_making_one(tmp_path):
    cipher = cipher_for(Settings(store="firestore", data_dir=tmp_path))
    with pytest.raises(ValueError, match="BYOK_ENCRYPTION_KEY"):
        cipher.encrypt(SECRET)
    with pytest.raises(Undecryptable):
        cipher.decrypt(KeyCipher.of(KeyCipher.generate()).encrypt(SECRET))
    assert not (tmp_path / "byok.key").exists()


def test_only_the_last_four_characters_of_a_long_key_are_ever_shown():
    assert hint(SECRET) == "cdef" and hint("short-key") == ""
