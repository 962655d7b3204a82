"""The host part of the load is this process's own CPU and memory, not the whole machine's.

A busy sibling process (bounded busy loops, one per CPU) must not raise our figure: on a shared
host, another process's work used to halve every visitor's limits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from shared.ratelimit import load

HUGE_LIMIT_MB = 1_000_000  # memory against a limit this large is ~0: only CPU speaks
BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def _busy_siblings(seconds: float) -> None:
    """Keep every CPU busy in other processes for ``seconds`` (each loop ends on its own)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    code = BUSY.format(seconds=seconds)
    siblings = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(min(cpus, 32))]
    for sibling in siblings:
        assert sibling.wait(timeout=seconds + 60) == 0


def test_a_busy_sibling_process_does_not_raise_our_load():
    load.host_pressure(HUGE_LIMIT_MB)  # the first reading sets the baseline
    _busy_siblings(1.5)
    assert load.host_pressure(HUGE_LIMIT_MB) < 0.3


def test_our_own_cpu_use_is_measured_as_a_share_in_zero_to_one():
    cpu = load.ProcessCpu(min_window=0.0)
    assert cpu.share() == 0.0, "the first reading is only the baseline"
    started = time.process_time()
    while time.process_time() - started < 0.2:  # burn CPU in this process
        sum(range(1000))
    share = cpu.share()
    assert 0.0 < share <= 1.0


def test_the_share_is_capped_at_one_under_a_tiny_cpu_quota():
    cpu = load.ProcessCpu(cpus=0.001, min_window=0.0)  # a tiny CPU quota: any work saturates it
    cpu.share()
    started = time.process_time()
    while time.process_time() - started < 0.05:
        sum(range(1000))
    assert cpu.share() == 1.0
