"""The pure bucket math, with a hand-moved clock."""

from shared.ratelimit.bucket import BucketState, Policy, decide

ANON = Policy("anonymous", 3, grace=5)
NOW = 1_000_000.0


def run(policy, times, state=None):
    results = []
    for t in times:
        decision, state = decide(state, t, policy)
        results.append(decision)
    return results, state


def test_grace_then_capacity_then_refusal():
    results, state = run(ANON, [NOW] * 20)
    allowed = [d.allowed for d in results]
    assert allowed.count(True) == 8
    assert allowed[:8] == [True] * 8 and not any(allowed[8:])
    assert [d.grace for d in results[:5]] == [True] * 5
    assert state.grace_used == 5


def test_grace_does_not_draw_from_the_bucket():
    results, _ = run(ANON, [NOW] * 5)
    assert all(d.remaining == 3 for d in results)


def test_refill_is_continuous_one_token_per_interval():
    policy = Policy("anonymous", 3, grace=0)
    results, state = run(policy, [NOW] * 4)
    assert [d.allowed for d in results] == [True, True, True, False]
    refused = results[-1]
    assert refused.retry_after == 20.0 and refused.remaining == 0
    early, _ = decide(state, NOW + 19.9, policy)
    assert not early.allowed
    on_time, state = decide(state, NOW + 20, policy)
    assert on_time.allowed and on_time.remaining == 0


def test_partial_tokens_do_not_admit():
    policy = Policy("registered", 5, grace=0)  # one token every 12 s
    _, state = run(policy, [NOW] * 5)
    decision, _ = decide(state, NOW + 11.99, policy)
    assert not decision.allowed and 0 < decision.retry_after <= 0.02
    assert decide(state, NOW + 12, policy)[0].allowed


def test_headers_figures_after_one_request():
    policy = Policy("anonymous", 3, grace=0)
    decision, _ = decide(None, NOW, policy)
    assert (decision.remaining, decision.reset_after) == (2, 20.0)


def test_bucket_never_exceeds_capacity_after_idle():
    policy = Policy("donor", 10, grace=0)
    _, state = run(policy, [NOW])
    results, _ = run(policy, [NOW + 3600] * 12, state)
    assert sum(d.allowed for d in results) == 10


def test_halving_the_limit_doubles_the_interval():
    half = Policy("anonymous", 2, grace=0)
    results, state = run(half, [NOW] * 3)
    assert [d.allowed for d in results] == [True, True, False]
    assert results[-1].retry_after == 30.0
    assert decide(state, NOW + 30, half)[0].allowed


def test_state_from_a_higher_limit_is_honoured_after_halving():
    full = Policy("donor", 10, grace=0)
    _, state = run(full, [NOW] * 10)  # drained at 6 s per token
    half = Policy("donor", 5, grace=0)
    assert not decide(state, NOW + 6, half)[0].allowed
    assert decide(state, NOW + 12, half)[0].allowed


def test_override_limit_is_just_another_policy():
    vip = Policy("override", 50, grace=5)
    results, _ = run(vip, [NOW] * 60)
    assert sum(d.allowed for d in results) == 55


def test_refusal_leaves_state_unchanged():
    policy = Policy("anonymous", 3, grace=0)
    _, state = run(policy, [NOW] * 3)
    decision, after = decide(state, NOW, policy)
    assert not decision.allowed and after == state


def test_grace_counts_persist_in_state():
    _, state = run(ANON, [NOW] * 3)
    assert state == BucketState(tat=0.0, grace_used=3, seen=NOW)


def test_an_earlier_clock_reading_is_decided_at_the_latest_time_seen():
    policy = Policy("registered", 2, grace=0)  # one token every 30 s
    _, state = decide(None, NOW + 0.005, policy)  # a request that read the clock later committed first
    late, state = decide(state, NOW, policy)  # this one read the clock 5 ms earlier
    assert late.allowed, "a stale clock reading must not cost a token"
    assert not decide(state, NOW, policy)[0].allowed
