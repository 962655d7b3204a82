from shared.domain import Job, JobStatus, Mode
from shared.jobs import eta

T2I, T2V = Mode.TEXT_TO_IMAGE, Mode.TEXT_TO_VIDEO


def _job(n: int, mode: Mode = T2I, status: JobStatus = JobStatus.QUEUED, **fields) -> Job:
    params = {"prompt": "p", **({"duration_seconds": fields.pop("seconds")} if "seconds" in fields else {})}
    return Job(id=f"job-{n}", owner="ip:1", tier="anonymous", priority=0, mode=mode, params=params,
               created_at=0.0, status=status, **fields)  # fmt: skip


def _finished(n: int, mode: Mode, run: float, **fields) -> Job:
    return _job(n, mode, JobStatus.SUCCEEDED, started_at=100.0, finished_at=100.0 + run, **fields)


class Loads:
    """A store's recent runs per mode, counting the loads (each one is a store read)."""

    def __init__(self, runs: dict[Mode, list[float]] | None = None) -> None:
        self.runs = runs or {}
        self.calls: list[Mode] = []

    def __call__(self, mode: Mode) -> list[float]:
        self.calls.append(mode)
        return list(self.runs.get(mode, []))


def test_moving_average_weights_recent_runs_most():
    assert eta.moving_average([], 7.0) == 7.0
    assert eta.moving_average([2.0, 2.0, 2.0], 9.0) == 2.0
    recent_slow = eta.moving_average([10.0, 1.0, 1.0, 1.0], 0)
    recent_fast = eta.moving_average([1.0, 1.0, 1.0, 10.0], 0)
    assert recent_slow > recent_fast


def test_queued_eta_drains_the_jobs_ahead_through_the_workers():
    assert eta.queued_eta(0, 4.0, 2) == 4.0  # at the head: a worker may be free, then its own run
    assert eta.queued_eta(0, 4.0, 2, waited=True) == 5.0  # still at the head later: the workers are busy
    assert eta.queued_eta(1, 4.0, 2) == 7.0  # one ahead: 1.5 finishes of 2 workers (2 s apart), then 4 s
    assert eta.queued_eta(9, 3.0, 1) == 31.5
    behind_videos = eta.queued_eta(8, 2.0, 4, ahead=10.0)
    behind_images = eta.queued_eta(8, 2.0, 4, ahead=2.0)
    assert behind_videos == 23.2 and behind_images == 6.2


def test_a_running_job_has_what_longer_runs_ran_beyond_its_time():
    assert eta.running_eta(100.0, 101.0, [10.0, 10.0, 10.0], 5.0) == 9.0
    runs = [10.0, 10.0, 12.0, 8.0]
    assert eta.running_eta(100.0, 111.0, runs, 5.0) == 1.0  # past most runs: only the 12 s one goes on
    assert eta.running_eta(100.0, 200.0, runs, 5.0) == 1.0  # past every run: a tenth of the typical one
    assert eta.running_eta(100.0, 100.5, [], 5.0) == 4.5  # no history: the default
    assert eta.running_eta(100.0, 200.0, [1.0], 1.0) == 0.2  # never below a fifth of a second


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


def test_a_mode_without_runs_is_looked_up_again_sooner_than_the_ttl():
    now = [0.0]
    loads = Loads({T2V: [5.0]})
    cache = eta.DurationCache(loads, lambda: now[0], ttl=300)
    assert cache.average(T2I) == eta.DEFAULT_SECONDS[T2I]  # no history yet: the default
    cache.average(T2V)
    now[0] = eta.EMPTY_TTL + 1
    loads.runs[T2I] = [1.0]
    assert cache.average(T2I) == 1.0  # no runs: looked up again after EMPTY_TTL
    cache.average(T2V)
    assert loads.calls == [T2I, T2V, T2I]  # some runs: the TTL holds
    cache.observe(_finished(1, Mode.TEXT, 1.0))
    cache.average(Mode.TEXT)
    now[0] += eta.EMPTY_TTL + 1
    cache.observe(_finished(2, Mode.TEXT, 1.0))  # a run it saw finish fills an empty mode: no early look-up
    assert cache.average(Mode.TEXT) == 1.0
    assert loads.calls == [T2I, T2V, T2I, Mode.TEXT]


def test_finished_jobs_it_sees_update_the_runs_without_a_read():
    loads = Loads({T2I: [4.0]})
    cache = eta.DurationCache(loads, lambda: 0.0, ttl=300)
    assert cache.average(T2I) == 4.0
    finished = _finished(1, T2I, 1.0)
    cache.observe(finished)
    cache.observe(finished)  # polled twice: counted once
    assert cache.average(T2I) == eta.moving_average([1.0, 4.0], 0)
    cache.observe(_finished(2, T2V, 9.0))  # a mode it never loaded: no read for a finished job
    assert loads.calls == [T2I]


def test_a_queued_job_waits_for_the_mix_of_modes_ahead_of_it():
    cache = eta.DurationCache(Loads({T2I: [2.0] * 5, T2V: [10.0] * 5}), lambda: 0.0, ttl=300)
    for n in range(3):
        cache.observe(_job(n, T2V))
    image = _job(9, T2I)
    behind_videos = cache.eta(image, 3, 0.0, 1)
    assert behind_videos == round((3 + 0.5) * (3 * 10.0 + 2.0) / 4 + 2.0, 1)
    only_images = eta.DurationCache(Loads({T2I: [2.0] * 5}), lambda: 0.0, ttl=300)
    assert only_images.eta(image, 3, 0.0, 1) == 9.0
    assert only_images.eta(image, 0, 0.5, 1) == 2.0  # just submitted, at the head
    assert only_images.eta(image, 0, 5.0, 1) == 3.0  # at the head for a while: waits for a worker
    assert cache.eta(_finished(10, T2I, 1.0), None, 0.0, 1) is None


def test_a_clip_run_is_scaled_to_its_length_once_several_lengths_ran():
    cache = eta.DurationCache(Loads({T2V: [3.0] * 5}), lambda: 0.0, ttl=300)
    cache.average(T2V)
    for n, seconds in enumerate([1, 2, 4, 6, 3, 5]):
        cache.observe(_finished(n, T2V, 1.0 + 0.5 * seconds, seconds=seconds))
    assert cache.eta(_job(20, T2V, seconds=6), 0, 0.0, 4) == 4.0
    assert cache.eta(_job(21, T2V, seconds=1), 0, 0.0, 4) == 1.5
    running = _job(22, T2V, JobStatus.RUNNING, seconds=2, started_at=50.0)
    assert cache.eta(running, None, 51.0, 4) == 1.0


def test_clip_fit_needs_several_lengths_and_a_growing_run():
    assert eta.clip_fit([(2.0, 3.0)] * 10) is None
    assert eta.clip_fit([(1.0, 2.0), (2.0, 3.0)]) is None  # too few
    assert eta.clip_fit([(s, 10.0 - s) for s in range(1, 7)]) is None
    base, per_second = eta.clip_fit([(s, 1.0 + 0.5 * s) for s in range(1, 7)]) or (0, 0)
    assert round(base, 6) == 1.0 and round(per_second, 6) == 0.5
