from shared.domain import Mode
from shared.jobs import eta


def test_moving_average_weights_recent_runs_most():
    assert eta.moving_average([], 7.0) == 7.0
    assert eta.moving_average([2.0, 2.0, 2.0], 9.0) == 2.0
    recent_slow = eta.moving_average([10.0, 1.0, 1.0, 1.0], 0)
    recent_fast = eta.moving_average([1.0, 1.0, 1.0, 10.0], 0)
    assert recent_slow > recent_fast


def test_queued_eta_counts_rounds_of_workers():
    assert eta.queued_eta(0, 4.0, 2) == 4.0
    assert eta.queued_eta(1, 4.0, 2) == 4.0
    assert eta.queued_eta(2, 4.0, 2) == 8.0
    assert eta.queued_eta(9, 3.0, 1) == 30.0


def test_running_eta_never_below_half_a_second():
    assert eta.running_eta(100.0, 101.0, 4.0) == 3.0
    assert eta.running_eta(100.0, 200.0, 4.0) == 0.5


def test_poll_after_is_bounded():
    assert eta.poll_after(0.2) == 1.0
    assert eta.poll_after(4.0) == 4.0
    assert eta.poll_after(500) == 15.0


def test_duration_cache_reloads_after_ttl():
    calls = []
    now = [0.0]

    def load(mode):
        calls.append(mode)
        return [float(len(calls))]

    cache = eta.DurationCache(load, lambda: now[0], ttl=10)
    assert cache.average(Mode.TEXT_TO_IMAGE) == 1.0
    now[0] = 5
    assert cache.average(Mode.TEXT_TO_IMAGE) == 1.0
    now[0] = 11
    assert cache.average(Mode.TEXT_TO_IMAGE) == 2.0
    assert cache.average(Mode.TEXT) == 3.0
