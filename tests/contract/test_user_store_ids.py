"""The user store's id pages (the admin's billing run walks every user with them). Runs on every store."""

from __future__ import annotations

from shared.stores.base import UserRecord


def test_user_ids_come_in_id_order_a_page_at_a_time(stores):
    users = stores.users
    assert users.ids(None, 10) == []
    for uid in ("carol", "alice", "dave", "bob", "erin"):
        users.create(UserRecord(uid, created_at=1.0))
    first = users.ids(None, 2)
    second = users.ids(first[-1], 2)
    third = users.ids(second[-1], 2)
    assert first + second + third == ["alice", "bob", "carol", "dave", "erin"]
    assert users.ids("erin", 2) == []
