"""What the Firestore emulator bounds on the busy day: its write ceiling and its op latency under load.

A probe with its own client and project on the same emulator (so the gateway's documents are
not touched): before the day, the latency of one write + one read on the idle emulator (the
baseline) and the most single-document writes per second 8 threads get (the ceiling); during
the day, a write + read every 0.25 s, timed, to show how the gateway's load slows each store
operation. The gateway does several operations per request, so its throughput on Firestore is
bounded by these, not by the server's CPU.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.busy_proofs import percentile
from bench.common import Figure

BENCH = "busy_day"


class EmulatorProbe:
    def __init__(self, host: str) -> None:
        from google.cloud import firestore

        os.environ["FIRESTORE_EMULATOR_HOST"] = host  # the client library reads it
        self.client: Any = firestore.Client(project=f"demo-busy-probe-{uuid.uuid4().hex[:8]}")
        self.idle_ms: list[float] = []
        self.day_ms: list[float] = []
        self.ceiling = 0.0

    def _op(self) -> float:
        doc = self.client.collection("probe").document(uuid.uuid4().hex[:6])
        started = time.perf_counter()
        doc.set({"at": time.time()})
        doc.get()
        return (time.perf_counter() - started) * 1000

    def measure_idle(self, count: int = 40, seconds: float = 3.0, threads: int = 8) -> None:
        for _ in range(5):
            self._op()
        self.idle_ms = [self._op() for _ in range(count)]
        done = [0] * threads
        deadline = time.perf_counter() + seconds

        def write(index: int) -> None:
            collection = self.client.collection(f"ceiling{index}")
            while time.perf_counter() < deadline:
                collection.document(str(done[index] % 200)).set({"n": done[index]})
                done[index] += 1

        workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        self.ceiling = sum(done) / (time.perf_counter() - started)

    @contextmanager
    def during(self) -> Iterator[None]:
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.25):
                try:
                    self.day_ms.append(self._op())
                except Exception as error:  # noqa: BLE001 - a failed probe is a figure too
                    self.day_ms.append(float("inf"))
                    print(f"emulator probe: {type(error).__name__}: {error}")

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5)

    def summary(self) -> str:
        return (
            f"Firestore emulator: idle write+read p50 {percentile(self.idle_ms, 0.5):.1f} ms; during the day "
            f"p50 {percentile(self.day_ms, 0.5):.1f} ms, p99 {percentile(self.day_ms, 0.99):.1f} ms "
            f"({len(self.day_ms)} probes); ceiling {self.ceiling:,.0f} single-document writes/s (8 threads)"
        )


def emulator_figures(probe: EmulatorProbe) -> list[Figure]:
    print(probe.summary())
    idle = percentile(probe.idle_ms, 0.5)
    return [
        Figure(BENCH, "firestore emulator: write ceiling (8 threads, one document each)", probe.ceiling, "writes/s"),
        Figure(
            BENCH,
            "firestore emulator: write+read p50 during the day",
            percentile(probe.day_ms, 0.5),
            "ms",
            "idle emulator p50",
            idle,
        ),
        Figure(
            BENCH,
            "firestore emulator: write+read p99 during the day",
            percentile(probe.day_ms, 0.99),
            "ms",
            "idle emulator p50",
            idle,
        ),
    ]
