"""ETA accuracy: how far the ETA a job is given is from when it really finishes, on a loaded queue.

The embedded server (SQLite, its in-process worker, default settings but four vendor slots and no
per-minute cap) routes every media mode to DashScope, whose fake (tests/fakes/dashscope.py, in this
process) finishes each async task when its render time has passed: per mode, about five times
faster than the real vendors (images 1 s, uploads 1.3 s, videos 1.2 s + 0.45 s per second of
clip, 1 to 6 s clips), each drawn with +-25 % jitter; the worker polls the task every 0.25 s. A
warm-up burst gives the server some history (followed to its end); then bursts of mixed-mode jobs
arrive faster than the workers finish them, so the queue stays loaded. Each job is followed as the site does
(site/js/job.js): a first poll when the submit's ETA says (1 to 15 s), then at each answer's
poll_after_seconds. Actual = the job's finished_at (the server's clock, this machine) minus the
moment the ETA was given. Error = |ETA - actual| / actual.

Baseline, from the same jobs: a naive ETA, (position // workers + 1) x the mean run time of every
job in the run, whatever its mode (a running job: that mean minus its elapsed time).
Target (issue 16): median error <= 25 %. Traffic goes only to 127.0.0.1.
Run: .venv/bin/python bench/eta.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import heapq
import io
import logging
import random
import statistics
import sys
import time
from dataclasses import dataclass, field

import requests
from common import ROOT, Figure, add_json_argument, embedded, emit, percentile

from tests.fakes.dashscope import DashScopeFake

BENCH = "eta"
WORKERS = 4
WARM_UP = 20  # jobs run before measuring: a few clip lengths of each video mode
MODES = {  # mode -> share of the traffic
    "text-to-image": 0.35,
    "image-to-image": 0.15,
    "text-to-video": 0.30,
    "image-to-video": 0.20,
}
TERMINAL = {"succeeded", "failed", "canceled"}
ASPECTS = ["1:1", "16:9", "9:16", "4:3", "3:4"]
RENDER = {"text-to-image": 1.0, "image-to-image": 1.3, "text-to-video": 1.2, "image-to-video": 1.2}  # seconds
PER_CLIP_SECOND = 0.45
MODELS = {
    "TEXT_TO_IMAGE": "qwen-image",
    "IMAGE_TO_IMAGE": "wanx2.1-imageedit",
    "TEXT_TO_VIDEO": "wan2.2-t2v-plus",
    "IMAGE_TO_VIDEO": "wan2.2-i2v-plus",
}


class TimedDashScope(DashScopeFake):
    """The fake DashScope, but a task runs until its render time (the prompt's "render=S") has
    passed since the worker first polled it (right after creating it), then succeeds."""

    def _status(self, task_id: str) -> dict[str, object]:
        with self._tasks_lock:
            task = self.tasks.get(task_id)
            if task is not None and task.done_at is None:
                task.done_at = time.time() + float(task.prompt.rsplit("render=", 1)[1])
            running = task is not None and time.time() < float(task.done_at or 0)
        if running:
            return {"request_id": "bench", "output": {"task_id": task_id, "task_status": "RUNNING"}}
        return super()._status(task_id)  # polls_to_finish = 0: SUCCEEDED with the result's URL


@dataclass
class Seen:
    """One ETA a job was given: when, how much, and its queue position (None: running)."""

    at: float
    eta: float
    position: int | None
    status: str


@dataclass
class Tracked:
    job_id: str
    mode: str
    measured: bool  # False: the warm-up burst (no history yet)
    seen: list[Seen] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    status: str = "queued"


def upload() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (256, 192), (40, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def submit(session: requests.Session, url: str, mode: str, rng: random.Random, n: int, image: bytes) -> Tracked:
    fields: dict[str, object] = {"aspect_ratio": rng.choice(ASPECTS)}
    render = RENDER[mode]
    if "video" in mode:
        clip = rng.randint(1, 6)
        fields["duration_seconds"] = float(clip)
        render += PER_CLIP_SECOND * clip
    render *= rng.uniform(0.75, 1.25)
    fields["prompt"] = f"bench eta job {n} {mode} render={render:.3f}"
    if mode.startswith("image-to"):
        fields.pop("aspect_ratio")
        data = {k: str(v) for k, v in fields.items()}
        answer = session.post(f"{url}/api/v1/generate/{mode}", data=data, files={"image": ("in.png", image)})
    else:
        answer = session.post(f"{url}/api/v1/generate/{mode}", json=fields)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    job = Tracked(body["job_id"], mode, measured=True)
    job.seen.append(Seen(time.time(), float(body["eta_seconds"]), body.get("position"), body["status"]))
    return job


def first_poll_after(eta: float) -> float:
    return min(max(eta, 1.0), 15.0)  # what site/js/job.js waits when an answer has no poll_after_seconds


def follow(session: requests.Session, url: str, due: list[tuple[float, int, Tracked]]) -> None:
    """Poll the jobs that are due (as the site would); schedule their next poll."""
    while due and due[0][0] <= time.time():
        _, n, job = heapq.heappop(due)
        view = session.get(f"{url}/api/v1/jobs/{job.job_id}", timeout=30).json()
        job.status, job.started, job.finished = view["status"], view["started_at"], view["finished_at"]
        if job.status in TERMINAL:
            if job.status != "succeeded":
                print(f"{BENCH}: job {job.job_id} ({job.mode}) {job.status}: {view.get('error')}")
            continue
        job.seen.append(Seen(time.time(), float(view["eta_seconds"]), view.get("position"), job.status))
        heapq.heappush(due, (time.time() + float(view["poll_after_seconds"]), n, job))


def burst(session: requests.Session, url: str, jobs: list[Tracked], count: int, ctx: tuple[random.Random, bytes],
          due: list[tuple[float, int, Tracked]], measured: bool) -> None:  # fmt: skip
    rng, image = ctx
    for _ in range(count):
        mode = rng.choices(list(MODES), weights=list(MODES.values()))[0]
        job = submit(session, url, mode, rng, len(jobs), image)
        job.measured = measured
        jobs.append(job)
        heapq.heappush(due, (time.time() + first_poll_after(job.seen[0].eta), len(jobs), job))


def drain(session: requests.Session, url: str, due: list[tuple[float, int, Tracked]], until: float) -> None:
    """Follow the jobs (as the site would) until ``until`` (0: until none is left)."""
    deadline = time.time() + 600
    while (due if not until else time.time() < until) and time.time() < deadline:
        follow(session, url, due)
        time.sleep(0.02)


def run(url: str, bursts: int, size: int, gap: float, seed: int) -> list[Tracked]:
    """A warm-up burst followed to the end (the server's history), then ``bursts`` measured ones."""
    ctx = (random.Random(seed), upload())
    session = requests.Session()
    jobs: list[Tracked] = []
    due: list[tuple[float, int, Tracked]] = []
    burst(session, url, jobs, WARM_UP, ctx, due, measured=False)
    drain(session, url, due, 0)
    for _ in range(bursts):
        burst(session, url, jobs, size, ctx, due, measured=True)
        drain(session, url, due, time.time() + gap)
    drain(session, url, due, 0)
    return jobs


def errors(jobs: list[Tracked], which: str, estimate: str, mean: float) -> dict[str, list[float]]:
    """Relative errors by mode (and "all"): ``which`` ETA of each job ("submit", "first poll", "polls")."""
    found: dict[str, list[float]] = {"all": []}
    for job in jobs:
        if not job.measured or job.status != "succeeded" or job.finished is None or job.started is None:
            continue
        picked = {"submit": job.seen[:1], "first poll": job.seen[1:2], "polls": job.seen[1:]}[which]
        for seen in picked:
            actual = job.finished - seen.at
            if actual <= 0:
                continue
            guess = seen.eta if estimate == "ours" else naive(seen, job.started, mean)
            error = abs(guess - actual) / actual
            found["all"].append(error)
            found.setdefault(job.mode, []).append(error)
    return found


def naive(seen: Seen, started: float, mean: float) -> float:
    if seen.position is None:
        return max(mean - (seen.at - started), 0.5)
    return (seen.position // WORKERS + 1) * mean


def report(jobs: list[Tracked]) -> list[Figure]:
    done = [j for j in jobs if j.measured and j.status == "succeeded" and j.finished and j.started]
    mean = statistics.fmean(j.finished - j.started for j in done)  # type: ignore[operator]
    print(f"{BENCH}: {len(done)} measured jobs succeeded of {sum(j.measured for j in jobs)}; mean run {mean:.2f} s")
    for mode in MODES:
        runs = [j.finished - j.started for j in done if j.mode == mode]  # type: ignore[operator]
        if runs:
            print(f"  {mode:<15} {len(runs):>3} jobs, run p50 {statistics.median(runs):.2f} s, max {max(runs):.2f} s")
    figures = []
    print(f"  {'relative error':<28}{'ours p50':>9}{'p90':>7}{'naive p50':>10}{'p90':>7}{'n':>5}")
    for which in ("submit", "first poll", "polls"):
        ours, base = errors(jobs, which, "ours", mean), errors(jobs, which, "naive", mean)
        for mode in ["all", *MODES]:
            if not ours.get(mode):
                continue
            o, b = ours[mode], base[mode]
            print(
                f"  {which + ', ' + mode:<28}{statistics.median(o):>9.2f}{percentile(o, 0.9):>7.2f}"
                f"{statistics.median(b):>10.2f}{percentile(b, 0.9):>7.2f}{len(o):>5}"
            )
        if which == "polls" or not ours["all"]:
            continue
        o, b = ours["all"], base["all"]
        figures += [
            Figure(BENCH, f"median ETA error at {which}, mixed modes", round(statistics.median(o), 3), "",
                   "naive position x global mean", round(statistics.median(b), 3), "<= 0.25"),
            Figure(BENCH, f"p90 ETA error at {which}, mixed modes", round(percentile(o, 0.9), 3), "",
                   "naive position x global mean", round(percentile(b, 0.9), 3)),
        ]  # fmt: skip
        figures += [
            Figure(BENCH, f"median ETA error at {which}, {mode}", round(statistics.median(ours[mode]), 3), "",
                   "naive", round(statistics.median(base[mode]), 3))
            for mode in MODES if ours.get(mode)
        ]  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 bursts of 20 jobs (under a minute)")
    parser.add_argument("--bursts", type=int, default=6)
    parser.add_argument("--size", type=int, default=20, help="jobs per burst")
    parser.add_argument("--gap", type=float, default=5.0, help="seconds between bursts")
    parser.add_argument("--seed", type=int, default=16)
    add_json_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.bursts, args.size = 3, 20
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fake vendor's request lines
    fake = TimedDashScope().start()
    fake.polls_to_run = fake.polls_to_finish = 0
    models = {f"DASHSCOPE_{mode}_MODEL": model for mode, model in MODELS.items()}
    process, url = embedded(
        DASHSCOPE_API_KEYS="good-key",
        DASHSCOPE_BASE_URL=fake.url,
        DASHSCOPE_MAX_CONCURRENT=str(WORKERS),
        DASHSCOPE_MAX_PER_MINUTE="0",  # our own per-minute cap (60) would fail the longer run's jobs, not time them
        PRICES=",".join(f"dashscope/{model}=1" for model in MODELS.values()),
        PROVIDER_POLL_SECONDS="0.25",
        WORKER_CONCURRENCY=str(WORKERS),
        **{f"ROUTE_{mode}": "dashscope" for mode in MODELS},
        **models,
    )
    try:
        jobs = run(url, args.bursts, args.size, args.gap, args.seed)
    finally:
        process.terminate()
        process.wait(10)
        fake.stop()
    figures = report(jobs)
    for figure in figures:
        if figure.met is False:
            figure.note = "see the table above: which mode and moment the ETA misses"
    emit(figures, args.json)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
