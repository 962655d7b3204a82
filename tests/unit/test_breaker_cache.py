"""The breaker re-reads shared state at most every cache_seconds, and at once after its own writes."""

from shared.providers.guards import BreakerPolicy, CircuitBreaker
from shared.stores.factory import open_sqlite
from tests.fakes.clock import FakeClock


class CountingReads:
    """Wraps the real SQLite provider-state store and counts ``breakers()`` reads."""

    def __init__(self, store):
        self.store = store
        self.reads = 0

    def breakers(self):
        self.reads += 1
        return self.store.breakers()

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_states_are_cached_per_instance_and_dropped_after_own_writes(tmp_path):
    clock = FakeClock()
    stores = open_sqlite(tmp_path / "b.sqlite3")
    counting = CountingReads(stores.provider_state)
    other = CircuitBreaker(stores.provider_state, clock, BreakerPolicy(threshold=2, cache_seconds=5))
    breaker = CircuitBreaker(counting, clock, BreakerPolicy(threshold=2, cache_seconds=5))
    assert breaker.states() == {} and counting.reads == 1
    assert breaker.states() == {} and counting.reads == 1, "within cache_seconds: no read"
    other.failed("stability")
    other.failed("stability")  # another instance opens the circuit
    assert breaker.states() == {}, "still the cached view"
    clock.advance(5)
    assert breaker.states() == {"stability": "open"} and counting.reads == 2
    breaker.failed("gemini")
    assert breaker.states()["gemini"] == "closed" and counting.reads == 3, "own write drops the cache"
    stores.close()
