"""A small compressed busy day (bench/busy_day.py's client, a few dozen visitors) against the embedded
server as ``make dev`` runs it, with real accounts on the Auth emulator: anonymous, script,
registered and donor visitors in all five modes with the site's polling, page views, and the
abusive callers. Behaviour only: no 5xx, every accepted job reaches a final state, no job (a
donor's least of all) starts after a worse-ranked one while it waits, the server applies each
caller's own tier, and every abusive request gets an answer the API defines.
"""

from __future__ import annotations

import asyncio

import pytest

from bench.busy_client import run_day, server_env
from bench.busy_people import DayShape
from bench.busy_proofs import judge
from tests.e2e.server import DevServer

pytestmark = pytest.mark.slow
AGING = 3.0


def test_a_small_busy_day_keeps_the_three_promises(auth_emulator, tmp_path):
    server = DevServer(tmp_path, **server_env(0.2, AGING, auth_emulator.host))
    try:
        shape = DayShape(visitors=30, day_seconds=8.0, seed=7)
        record = asyncio.run(run_day(server.url, auth_emulator.host, shape, poll_bound=60.0, sweep_bound=60.0))
    finally:
        assert server.stop() == 0, server.output()
    verdict = judge(record, AGING)

    assert verdict.server_errors == [] and verdict.transport_errors == [], "no 5xx, every request answered"
    assert verdict.not_final == [], "every 202 reaches a final state"
    assert verdict.donor_overtaken == [] and verdict.any_overtaken == [], [
        o.describe(AGING) for o in verdict.any_overtaken
    ]
    assert verdict.outcomes["succeeded"] > 0 and set(verdict.outcomes) <= {"succeeded", "canceled"}
    assert {t.tier for t in record.jobs.values()} == {"anonymous", "registered", "donor"}
    assert {t.mode for t in record.jobs.values()} == {
        "text-to-image",
        "image-to-image",
        "text-to-video",
        "image-to-video",
    }
    assert verdict.routes["POST /generate/text"]["count"] > 0 and verdict.routes["POST /events"]["count"] > 0
    assert verdict.tier_mismatches == [], "each caller is served as its own tier"
    assert verdict.notes == [], "every abusive request gets an answer the API defines"
    assert verdict.refusals["abusive"]["429 rate_limited"] > 0 and verdict.refusals["abusive"]["429 abuse_blocked"] > 0
