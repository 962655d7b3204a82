"""Alert notifications: a JSON POST to ``ALERT_WEBHOOK_URL``, from a background thread.

The body works with Slack and Discord incoming webhooks (``text`` and ``content`` hold the same
sentence) and carries the alert itself under ``alert``. With ``ALERT_WEBHOOK_SECRET`` set, every
POST is signed: ``X-Gateway-Timestamp: <unix seconds>`` and
``X-Gateway-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``, so a receiver can
check the sender and refuse replays. A connection error, a timeout, 429 or 5xx is retried
(``ALERT_WEBHOOK_ATTEMPTS``, backing off); another answer is final. ``send`` only queues: no request
ever waits for a delivery; ``drain`` lets the scheduled run wait (bounded) before it answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("gateway.alerts")
RETRIED = {408, 425, 429, 500, 502, 503, 504}


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        secret: bytes | None = None,
        attempts: int = 3,
        backoff: float = 1.0,
        timeout: float = 5.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.secret = secret
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self._now = now
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    def send(self, event: dict[str, Any]) -> None:
        """Queue a notification; the background thread delivers it."""
        self._queue.put(event)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="alert-webhook", daemon=True)
                self._thread.start()

    def drain(self, timeout: float) -> bool:
        """Wait until every queued notification was delivered or given up (at most ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks

    def _loop(self) -> None:
        while True:
            try:
                event = self._queue.get(timeout=5.0)
            except queue.Empty:
                return  # idle: the next send starts a thread again
            try:
                ok = self._deliver(event)
                with self._lock:
                    self.delivered += 1 if ok else 0
                    self.failed += 0 if ok else 1
            finally:
                self._queue.task_done()

    def _post(self, body: bytes) -> tuple[int | None, str]:
        """One attempt: the status (None when no answer came) and what to log."""
        import requests

        headers = {"Content-Type": "application/json", "User-Agent": "aiart-gateway-alerts"}
        if self.secret:
            stamp = str(int(self._now()))
            headers["X-Gateway-Timestamp"] = stamp
            headers["X-Gateway-Signature"] = signature(self.secret, stamp, body)
        try:
            answer = requests.post(self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            return None, type(exc).__name__
        return answer.status_code, str(answer.status_code)

    def _deliver(self, event: dict[str, Any]) -> bool:
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        for attempt in range(1, self.attempts + 1):
            status, reason = self._post(body)
            if status is not None and status < 300:
                return True
            log.warning("alert webhook failed", extra={"fields": {"attempt": attempt, "reason": reason}})
            if status is not None and status not in RETRIED:
                break
            if attempt < self.attempts:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        log.error("alert webhook gave up", extra={"fields": {"rule": event.get("alert", {}).get("rule")}})
        return False
