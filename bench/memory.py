"""Memory: how much a worker's RSS grows while it stores a 10 MB video result.

The real path, on 127.0.0.1: the embedded server (SQLite, its in-process worker) routes
text-to-video to DashScope, whose fake (tests/fakes/dashscope.py, in this process) answers the
task with a result URL on its own loopback origin serving a real 10 MB MP4 (noise frames, H.264).
The worker downloads it under safe_fetch's rules, checks it is a playable MP4 and stores it in
the media store: a local folder, then an S3 bucket (moto's server, in this process).

Each store runs in a fresh server. After one small warm-up video (imports, pools), the bench
reads the server's VmRSS, resets its peak (``/proc/PID/clear_refs`` 5), runs the 10 MB job and
reads VmHWM: growth = peak - before. Baseline, same run: a fresh Python reading the same file
into one bytes object (what holding the result whole once costs). Target (issue 16): growth at
most the file size + 30 MB. The stored object is fetched back and compared byte for byte.
Run: .venv/bin/python bench/memory.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from common import ROOT, Figure, add_json_argument, embedded, emit

from tests.fakes.dashscope import DashScopeFake
from tests.fakes.video import noise_mp4
from tests.helpers import free_port

MB = 1024 * 1024
T2V = "/api/v1/generate/text-to-video"
BENCH = "memory"


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS now


BASELINE = """
import sys
from pathlib import Path
def status():
    return {l.split(':')[0]: int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('Vm')}
before = status()['VmRSS']
data = Path(sys.argv[1]).read_bytes()
print(status()['VmHWM'] - before, len(data))
"""


def baseline_growth(path: Path) -> int:
    """Peak RSS growth of a fresh Python that reads the file into one bytes object."""
    answer = subprocess.run([sys.executable, "-c", BASELINE, str(path)], capture_output=True, text=True, check=True)
    return int(answer.stdout.split()[0])


@contextmanager
def s3_bucket() -> Iterator[dict[str, str]]:
    """moto's S3 server on 127.0.0.1 with one bucket, as the server's MEDIA_* settings."""
    from moto.server import ThreadedMotoServer

    from shared.media_s3 import s3_client

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3_client(endpoint, "us-east-1", "test", "test").create_bucket(Bucket="bench-media")
        yield {
            "MEDIA_BACKEND": "s3",
            "MEDIA_S3_BUCKET": "bench-media",
            "MEDIA_S3_ENDPOINT_URL": endpoint,
            "MEDIA_S3_REGION": "us-east-1",
            "MEDIA_S3_ACCESS_KEY_ID": "test",
            "MEDIA_S3_SECRET_ACCESS_KEY": "test",
        }
    finally:
        server.stop()


def run_job(session: requests.Session, url: str, prompt: str) -> dict:
    answer = session.post(url + T2V, json={"prompt": prompt, "duration_seconds": 3}, timeout=30)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = session.get(f"{url}/api/v1/jobs/{job_id}", timeout=30).json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            assert job["status"] == "succeeded", job
            return job
        time.sleep(0.05)
    raise RuntimeError(f"job {job_id} did not finish")


def measure(fake: DashScopeFake, video: bytes, media: dict[str, str]) -> int:
    """Peak RSS growth of a fresh server while its worker stores ``video`` (after a small warm-up)."""
    process, url = embedded(
        DASHSCOPE_API_KEYS="good-key",
        DASHSCOPE_BASE_URL=fake.url,
        ROUTE_TEXT_TO_VIDEO="dashscope",
        PRICES="dashscope/wan2.2-t2v-plus=2",
        PROVIDER_POLL_SECONDS="0.05",
        WORKER_CONCURRENCY="1",
        **media,
    )
    session = requests.Session()
    try:
        fake.result_body = None  # the fake's small MP4: loads PyAV, the pools, the store's client
        run_job(session, url, "warm up")
        time.sleep(0.5)
        fake.result_body = video
        before = status(process.pid)["VmRSS"]
        reset_peak(process.pid)
        job = run_job(session, url, "the measured one")
        peak = status(process.pid)["VmHWM"]
        link = job["result"]["url"]
        stored = session.get(link if link.startswith("http") else url + link, timeout=60)
        assert stored.content == video, "the stored result differs from the vendor's"
        return peak - before
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one run per store (the default takes the worst of 3)")
    parser.add_argument("--size-mb", type=float, default=10.0)
    add_json_argument(parser)
    args = parser.parse_args()
    runs = 1 if args.quick else 3
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fake vendor's and moto's request lines

    video = noise_mp4(int(args.size_mb * MB))
    size_mb = len(video) / MB
    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
        file.write(video)
        file.flush()
        base = max(baseline_growth(Path(file.name)) for _ in range(runs)) / MB

    fake = DashScopeFake().start()
    fake.polls_to_run = fake.polls_to_finish = 0  # the first poll answers SUCCEEDED with the URL
    figures = []
    try:
        stores: list[tuple[str, dict[str, str]]] = [("local folder", {})]
        with s3_bucket() as s3:
            stores.append(("S3 (moto)", s3))
            for name, media in stores:
                growth = max(measure(fake, video, media) for _ in range(runs)) / MB
                figures.append(
                    Figure(
                        BENCH,
                        f"RSS growth storing a {size_mb:.1f} MB video, {name}",
                        round(growth, 1),
                        "MB",
                        baseline="holding it whole once",
                        baseline_value=round(base, 1),
                        target=f"<= {size_mb + 30:.1f}",
                        note="" if growth <= size_mb + 30 else "the result is held in memory on the way to the store",
                    )
                )
    finally:
        fake.stop()
    print(f"{BENCH}: video {size_mb:.2f} MB; baseline (read into one bytes object) {base:.1f} MB")
    emit(figures, args.json)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
