"""Store faults, through the real HTTP app: the embedded server (``make dev``) as a subprocess.

Each fault is made for real, never mocked, while jobs are accepted and running:

- **SQLite locked**: another process holds ``BEGIN EXCLUSIVE`` on the database file for longer than
  ``SQLITE_BUSY_TIMEOUT_SECONDS``. Writes (a submit) answer 503 ``server_busy`` with the envelope
  and ``Retry-After``; reads (a poll) go on (WAL); once the lock is released, a job that was running
  through it is finished by the sweep and new submits are accepted.
- **Firestore down** on a dedicated emulator (the session one is left to other tests), in two ways:
  *hung* (the emulator is SIGSTOPped: connections accepted, never answered) and *restarted* (the
  emulator is stopped, so connections are refused, then started again on the same port). Real
  Firestore keeps every acknowledged write through an outage, the emulator keeps nothing, so the
  restart loads an export taken just before the stop; the dev server is held still (SIGSTOP) for
  that moment so that no acknowledged write falls between the export and the stop. While it is
  down, submits and polls answer 503 ``server_busy`` with ``Retry-After`` within
  ``FIRESTORE_TIMEOUT_SECONDS``; afterwards every accepted job reaches one final state and keeps it,
  without a manual kick (the dispatcher polls, expired leases are swept back to the queue).
- **Disk full while a result is stored**: the media folder is a small tmpfs (needs mount rights:
  root) filled up to less than a result's size. The job fails cleanly (its error in the job, no
  stack trace), no file is served or left under the result's name, and once space is freed the
  next job stores its result whole.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from PIL import Image

from shared.media import LocalMediaStore
from tests.e2e.server import DevServer
from tests.fakes.stability import StabilityFake
from tests.firestore_emulator import HOW_TO_INSTALL, FirestoreEmulator, missing_requirements

pytestmark = pytest.mark.slow
T2I = "/api/v1/generate/text-to-image"
FINAL = {"succeeded", "failed", "canceled"}
COMMON = {  # one job per submit, and limits that a handful of submits from 127.0.0.1 never reach
    "SUBMIT_DEDUPE_SECONDS": "0",
    "TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
    "LEASE_SECONDS": "3",  # a job whose worker lost its store comes back to the queue soon
}


def submit(server: DevServer, prompt: str) -> requests.Response:
    return requests.post(server.url + T2I, json={"prompt": prompt}, timeout=30)


def accepted(server: DevServer, prompt: str) -> str:
    answer = submit(server, prompt)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def poll(server: DevServer, job_id: str) -> requests.Response:
    return requests.get(f"{server.url}/api/v1/jobs/{job_id}", timeout=30)


def assert_busy(answer: requests.Response) -> None:
    """A clear 503: the error envelope, ``server_busy``, ``Retry-After``; no stack trace."""
    assert answer.status_code == 503, (answer.status_code, answer.text)
    body = answer.json()
    assert body["success"] is False and body["error_type"] == "server_busy", body
    assert body["message"] and body["request_id"], body
    assert int(answer.headers["Retry-After"]) >= 1 and body["retry_after"] == int(answer.headers["Retry-After"])
    assert "Traceback" not in answer.text and 'File "' not in answer.text


def settle(server: DevServer, job_ids: list[str], timeout: float = 45) -> dict[str, dict]:
    """Each job's final answer, polled as the site does (a 503 on the way is a clear one), waited
    for with a bounded deadline; every job must have succeeded."""
    finals: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(finals) < len(job_ids) and time.monotonic() < deadline:
        for job_id in set(job_ids) - set(finals):
            answer = poll(server, job_id)
            if answer.status_code == 503:
                assert_busy(answer)
            elif answer.json()["status"] in FINAL:
                finals[job_id] = answer.json()
        time.sleep(0.2)
    assert {job_id: body["status"] for job_id, body in finals.items()} == dict.fromkeys(job_ids, "succeeded"), (
        finals,
        server.output(),
    )
    return finals


def eventually_accepted(server: DevServer, prompt: str, timeout: float = 30) -> str:
    """A submit, repeated after each clear 503 (a store coming back), until accepted."""
    deadline = time.monotonic() + timeout
    while True:
        answer = submit(server, prompt)
        if answer.status_code != 503 or time.monotonic() > deadline:
            assert answer.status_code == 202, answer.text
            return str(answer.json()["job_id"])
        assert_busy(answer)
        time.sleep(0.5)


def assert_no_500(server: DevServer) -> None:
    """No answer of the whole run was a 500 (the server logs every request and every unhandled error)."""
    log = (server.data_dir / f"server-{server.port}.log").read_text(errors="replace")
    assert '"status": 500' not in log and "unhandled error" not in log, server.output()


def assert_kept(server: DevServer, finals: dict[str, dict]) -> None:
    """A final state is final: the same status, finish time and attempts when polled again."""
    for job_id, before in finals.items():
        again = poll(server, job_id).json()
        for field in ("status", "finished_at", "attempts"):
            assert again[field] == before[field], (job_id, field, before, again)


# -- SQLite: the file locked by another process ----------------------------------------------------


@contextmanager
def locked(database: Path) -> Iterator[None]:
    """Another process holds the database's write lock (``BEGIN EXCLUSIVE``) until the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
            "db.execute('ROLLBACK')\n",
            str(database),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)


def test_a_sqlite_file_locked_past_busy_timeout_answers_503_then_recovers(tmp_path: Path) -> None:
    server = DevServer(
        tmp_path,
        SQLITE_BUSY_TIMEOUT_SECONDS="0.5",
        LOCAL_DELAY_SECONDS="1",
        WORKER_CONCURRENCY="1",  # one worker slot: a claim that meets the lock must give it back
        **COMMON,
    )
    try:
        done = accepted(server, "a fox before the lock")
        assert server.wait_for(done, FINAL)["status"] == "succeeded"
        running = accepted(server, "a fox through the lock")  # its worker finishes while the file is locked
        with locked(tmp_path / "gateway.sqlite3"):
            assert_busy(submit(server, "a fox while locked"))
            read = poll(server, done)  # reads go on under another writer's lock (WAL)
            assert read.status_code == 200 and read.json()["status"] == "succeeded", read.text
            time.sleep(1.5)  # the running job's worker meets the lock too
            assert_busy(submit(server, "a fox still locked"))
        after = accepted(server, "a fox after the lock")
        finals = settle(server, [done, running, after])
        assert_kept(server, finals)
        with sqlite3.connect(tmp_path / "gateway.sqlite3") as db:  # nothing half-written: the file is whole
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert_no_500(server)
    finally:
        assert server.stop() == 0, server.output()


# -- Firestore: the database hung, then stopped and restarted ---------------------------------------

PROJECT = "demo-store-faults"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[FirestoreEmulator]:
    """An emulator of this test's own: the session one serves other tests meanwhile."""
    problem = missing_requirements()
    if problem is not None:
        pytest.fail(f"{problem} {HOW_TO_INSTALL}", pytrace=False)
    emulator = FirestoreEmulator(tmp_path / "emulator.log")
    try:
        yield emulator
    finally:
        emulator.stop()


@contextmanager
def held_still(server: DevServer) -> Iterator[None]:
    """The server is frozen (SIGSTOP) for the block, its calls already sent answered first."""
    server.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(0.5)
        yield
    finally:
        server.process.send_signal(signal.SIGCONT)


def assert_served(server: DevServer, finals: dict[str, dict]) -> None:
    for body in finals.values():
        media = requests.get(server.url + body["result"]["url"], timeout=10)
        assert media.status_code == 200, media.text
        assert Image.open(io.BytesIO(media.content)).format == "PNG"


def test_firestore_hung_then_restarted_answers_503_loses_no_job(emulator: FirestoreEmulator, tmp_path: Path) -> None:
    server = DevServer(
        tmp_path,
        STORE="firestore",
        FIRESTORE_EMULATOR_HOST=emulator.host,
        FIRESTORE_PROJECT=PROJECT,
        FIRESTORE_TIMEOUT_SECONDS="2",  # a loaded machine answers in time, a hung store is told soon
        LOCAL_DELAY_SECONDS="0.5",  # one job runs, the others wait in the queue through the outages
        WORKER_CONCURRENCY="1",
        **COMMON,
    )
    try:
        jobs = [accepted(server, f"a fox {n}") for n in range(2)]
        emulator.pause()  # hung: connections accepted, never answered
        try:
            assert_busy(submit(server, "a fox while hung"))
            assert_busy(poll(server, jobs[0]))
        finally:
            emulator.resume()
        jobs += [eventually_accepted(server, f"a cat {n}") for n in range(2)]
        with held_still(server):  # stopped, its documents kept (as Firestore keeps them)
            export = emulator.export(PROJECT, tmp_path / "export")
            emulator.stop()
        assert_busy(submit(server, "a cat while down"))
        assert_busy(poll(server, jobs[-1]))
        emulator.restart(import_data=export)
        finals = settle(server, jobs)  # none lost, no manual kick
        finals.update(settle(server, [eventually_accepted(server, "a cat after the restart")]))
        assert_kept(server, finals)
        assert_served(server, finals)
        assert_no_500(server)
    finally:
        assert server.stop() == 0, server.output()


# -- The disk full while a result is stored ---------------------------------------------------------

SIGNING_KEY = "store-faults-media-signing-key-0123456789"


@contextmanager
def small_tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes at ``path`` (mount needs root: skipped where it is refused)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (root only): {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def noise_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


def test_a_full_disk_while_a_result_is_stored_fails_the_job_and_serves_no_half_file(tmp_path: Path) -> None:
    result = noise_png(400)  # about 480 kB: noise does not compress
    vendor = StabilityFake().start()
    vendor.result_body = result
    try:
        with small_tmpfs(tmp_path / "media", 4 * len(result)) as media:
            server = DevServer(
                tmp_path,
                MEDIA_DIR=str(media),
                MEDIA_SIGNING_KEY=SIGNING_KEY,
                ROUTE_TEXT_TO_IMAGE="stability",
                STABILITY_API_KEYS="good-key",
                STABILITY_BASE_URL=vendor.url,
                PRICES="stability/core=3",
                **COMMON,
            )
            try:
                fill_then_free(server, media, result)
                assert_no_500(server)
            finally:
                assert server.stop() == 0, server.output()
    finally:
        vendor.stop()


def fill_then_free(server: DevServer, media: Path, result: bytes) -> None:
    before = settle(server, [accepted(server, "a fox before")])
    filler = media / "filler"
    free = os.statvfs(media).f_bavail * os.statvfs(media).f_frsize
    filler.write_bytes(b"\0" * (free - len(result) // 2))  # room for half a result
    full = accepted(server, "a fox on a full disk")
    failed = server.wait_for(full, FINAL)
    assert failed["status"] == "failed" and failed["result"] is None, failed
    assert failed["error"]["message"] and "Traceback" not in str(failed), failed
    key = f"outputs/{full}.png"  # where its result would be: nothing is served there
    signer = LocalMediaStore(media, SIGNING_KEY.encode(), "/api/v1/media", 600)
    assert requests.get(server.url + signer.url(key, time.time()), timeout=10).status_code == 404
    assert sorted(p.name for p in (media / "outputs").iterdir()) == [f"{next(iter(before))}.png"]  # no .tmp left
    filler.unlink()  # space again: the next result is stored whole
    after = settle(server, [accepted(server, "a fox after")])
    assert_kept(server, {full: failed})
    for body in {**before, **after}.values():
        assert requests.get(server.url + body["result"]["url"], timeout=10).content == result
