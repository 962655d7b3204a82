"""Analytics counters: what one generation and one event add, pages as counted, the histogram's p95."""

from __future__ import annotations

import pytest

from shared.analytics.counters import BOUNDS, Generation, bucket, event_counts, generation_counts, page_name, percentile
from shared.config_ops import DEFAULT_PAGES


@pytest.mark.parametrize(
    ("sent", "counted"),
    [
        ("/", "/"),
        ("/index.html", "/"),
        ("/donate/", "/donate"),
        ("/donate/index.html", "/donate"),
        ("/account.html", "/account"),
        ("/admin.html?days=7#top", "/admin"),
        ("/history", "/history"),
        ("/wp-login.php", "other"),
        ("/" + "x" * 400, "other"),
    ],
)
def test_pages_are_counted_by_name_from_a_fixed_list(sent, counted):
    assert page_name(sent, DEFAULT_PAGES) == counted


def test_one_generation_is_one_set_of_increments():
    job = Generation("text-to-image", True, "stability", 3.0, "donor", 6.0, 2.0, "signed_in")
    assert generation_counts(job) == {
        "gen:text-to-image:succeeded": 1,
        "tier:donor": 1,
        "prov:stability:ok": 1,
        "cost:stability": 3.0,
        "ttr:n": 1,
        "ttr:sum": 6.0,
        f"ttr:h{bucket(6.0)}": 1,
        "wait:n": 1,
        "wait:sum": 2.0,
        f"wait:h{bucket(2.0)}": 1,
        "first:signed_in": 1,
    }
    failed = generation_counts(Generation("text", False, None, 0.0, "anonymous", 1.0))
    assert failed == {"gen:text:failed": 1, "tier:anonymous": 1}, "no provider reached, no timing of a result"
    cached = generation_counts(Generation("text", True, "openai", 0.0, "registered", 0.1, cached=True))
    assert "cached" in cached and not any(name.startswith("prov:") for name in cached)
    assert event_counts("page_view", "/") == {"event:page_view": 1, "page:/": 1}
    assert event_counts("share", "/") == {"event:share": 1}


def test_the_p95_is_the_upper_bound_of_its_bucket():
    assert bucket(0.2) == 0 and bucket(1.0) == 0 and bucket(1.01) == 1 and bucket(10_000) == len(BOUNDS)
    histogram = {bucket(2.5): 94, bucket(50): 6}
    assert percentile(histogram, 0.95) == 60.0 and percentile(histogram, 0.5) == 3.0
    assert percentile({}, 0.95) is None and percentile({len(BOUNDS): 1}, 0.95) == float(BOUNDS[-1])
