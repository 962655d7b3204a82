"""The subscription store contract: requests, compare-and-set transitions, processed events, pages, purge.

Runs on every store (SQLite; Firestore on the emulator)."""

from __future__ import annotations

from shared.stores.base_money import SubscriptionRecord

NOW = 1_800_000_000.0


def _request(number: int, user: str = "alice", at: float = NOW, status: str = "pending") -> SubscriptionRecord:
    return SubscriptionRecord(f"sub_{number:04d}", user, "donor-monthly", "donor", 5.0, 30, status, at)


def test_a_request_is_made_once_and_read_back(stores):
    subs = stores.subscriptions
    record = _request(1)
    assert subs.get(record.id) is None
    assert subs.create(record) is True
    assert subs.get(record.id) == record
    assert subs.create(SubscriptionRecord(record.id, "mallory", "x", "donor", 0.0, 0)) is False, "never replaced"
    assert subs.get(record.id) == record


def test_a_transition_is_a_compare_and_set_on_the_status(stores):
    subs = stores.subscriptions
    subs.create(_request(1))
    changes = {"status": "active", "activated_at": NOW + 5, "expires_at": NOW + 5 + 30 * 86400, "event_at": NOW + 5}
    assert subs.transition("sub_0001", "pending", changes) is True
    assert subs.transition("sub_0001", "pending", {"status": "canceled"}) is False, "no longer pending"
    stored = subs.get("sub_0001")
    assert stored.status == "active" and stored.activated_at == NOW + 5 and stored.expires_at == NOW + 5 + 30 * 86400
    assert subs.transition("sub_0001", "active", {"status": "refunded", "ended_at": NOW + 9}) is True
    assert subs.get("sub_0001").status == "refunded" and subs.get("sub_0001").ended_at == NOW + 9
    assert subs.transition("nope", "pending", {"status": "active"}) is False


def test_processed_events_are_remembered(stores):
    subs = stores.subscriptions
    assert subs.seen("evt_1") is False
    subs.mark_seen("evt_1", "sub_0001", "completed", NOW)
    subs.mark_seen("evt_1", "sub_0001", "completed", NOW + 1)  # a second note changes nothing
    assert subs.seen("evt_1") is True and subs.seen("evt_2") is False


def test_pages_go_newest_first_by_status_with_a_cursor(stores):
    subs = stores.subscriptions
    for number in range(7):
        subs.create(_request(number, at=NOW + number // 2, status="active" if number % 3 == 0 else "pending"))
    seen, cursor = [], None
    while True:
        items, cursor = subs.page(None, cursor, 3)
        seen.extend(items)
        if cursor is None:
            break
    assert [s.id for s in seen] == ["sub_0006", "sub_0005", "sub_0004", "sub_0003", "sub_0002", "sub_0001", "sub_0000"]
    active, cursor = subs.page("active", None, 10)
    assert [s.id for s in active] == ["sub_0006", "sub_0003", "sub_0000"] and cursor is None
    first, cursor = subs.page("pending", None, 2)
    rest, last = subs.page("pending", cursor, 2)
    assert [s.id for s in first + rest] == ["sub_0005", "sub_0004", "sub_0002", "sub_0001"] and last is None
    assert subs.page("refunded", None, 5) == ([], None)


def test_purge_deletes_only_old_pending_requests(stores):
    subs = stores.subscriptions
    subs.create(_request(1, at=NOW - 10))
    subs.create(_request(2, at=NOW - 5))
    subs.create(_request(3, at=NOW - 10, status="active"))
    subs.create(_request(4, at=NOW + 1))
    assert subs.purge(NOW, limit=1) == 1
    assert subs.purge(NOW) == 1
    assert subs.purge(NOW) == 0
    assert subs.get("sub_0001") is None and subs.get("sub_0002") is None
    assert subs.get("sub_0003").status == "active", "a paid one stays"
    assert subs.get("sub_0004") is not None, "a recent request stays"
