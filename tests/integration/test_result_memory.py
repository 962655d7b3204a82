"""A large result is streamed, never held whole: a worker storing a 10 MB video grows by far less.

The real path in a fresh process (``python -m tests.integration.test_result_memory URL DIR``):
the job runner on a real SQLite store, the router, the DashScope adapter against its fake (in
the test process, on 127.0.0.1) and the local media store. After a small warm-up video (imports,
pools) the child resets its peak RSS (``/proc/self/clear_refs``), runs the 10 MB job and reports
its peak growth. Holding the result whole once would grow it by the file's size; the bound is
half of that, far above what streaming costs (about 2 MB: a chunk, the spool, PyAV's buffers).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.dashscope import DashScopeFake
from tests.fakes.video import noise_mp4

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SIZE = 10 * 1024 * 1024
MODEL = "wan2.2-t2v-plus"


def _status() -> dict[str, int]:
    lines = Path("/proc/self/status").read_text().splitlines()
    return {n: int(v.split()[0]) * 1024 for n, _, v in (x.partition(":") for x in lines) if n in ("VmRSS", "VmHWM")}


def _child(base_url: str, workdir: Path) -> None:
    """Run a warm-up job, wait for the parent's go, then the measured job; print the peak growth."""
    from shared.domain import JobStatus, Mode
    from shared.jobs.runner import JobRunner, LeaseKeeper
    from shared.media import LocalMediaStore
    from shared.providers.dashscope import DashScopeProvider
    from shared.providers.router import ProviderRouter
    from shared.providers.safe_fetch import vendor_session
    from shared.providers.vendor_base import VendorConfig
    from shared.stores.base import Job
    from shared.stores.factory import open_sqlite
    from tests.fakes.clock import FakeClock

    clock = FakeClock()
    config = VendorConfig(base_url, ["good-key"], {Mode.TEXT_TO_VIDEO: MODEL}, poll_seconds=1)
    provider = DashScopeProvider(config, clock, vendor_session(config.hosts))
    router = ProviderRouter(
        {"dashscope": provider}, {Mode.TEXT_TO_VIDEO: ["dashscope"]}, clock=clock, prices={f"dashscope/{MODEL}": 1.0}
    )
    jobs = open_sqlite(workdir / "jobs.sqlite3").jobs
    media = LocalMediaStore(workdir / "media", b"k" * 32, "/m", 600)
    runner = JobRunner(jobs, media, router, clock, LeaseKeeper(jobs, clock, 30))

    def run(name: str) -> Path:
        now = clock.now()
        job = Job(id=f"{name}-0000000000", owner="ip:1.1.1.1", tier="anonymous", priority=0, rank=now,
                  mode=Mode.TEXT_TO_VIDEO, params={"prompt": name, "duration_seconds": 2}, created_at=now,
                  expire_at=now + 3600)  # fmt: skip
        jobs.create(job)
        claimed = jobs.claim_next("w", now, 30)
        assert claimed is not None
        outcome = runner.run(claimed, "w")
        assert outcome.status is JobStatus.SUCCEEDED, outcome.error
        path = media.local_path(str((outcome.result or {})["key"]))
        assert path is not None
        return path

    run("warm")
    print("ready", flush=True)
    sys.stdin.readline()
    before = _status()["VmRSS"]
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS now
    stored = run("large")
    growth = _status()["VmHWM"] - before
    print(json.dumps({"growth": growth, "sha256": hashlib.sha256(stored.read_bytes()).hexdigest()}), flush=True)


@pytest.fixture
def fake():
    server = DashScopeFake().start()
    server.polls_to_run = server.polls_to_finish = 0
    yield server
    server.stop()


def test_storing_a_10_mb_video_does_not_hold_it_whole(fake: DashScopeFake, tmp_path: Path):
    video = noise_mp4(SIZE)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_result_memory", fake.url, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"  # warmed up on the fake's small video
        fake.result_body = video
        child.stdin.write("go\n")
        child.stdin.flush()
        report = json.loads(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    assert report["sha256"] == hashlib.sha256(video).hexdigest()  # the stored file is the vendor's video
    assert report["growth"] < len(video) / 2, f"grew by {report['growth'] / 2**20:.1f} MiB for a 10 MiB video"


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
