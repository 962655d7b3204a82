"""The embedded default's own schedule for the daily run (cleanup, then the backup when due).

Production has Cloud Scheduler. ``make dev`` has no scheduler, so the embedded server pokes this
on every request: when the last run is a day old (or the process just started), the run starts
in a background thread, and the request carries on. There is no timer, so a hibernating server
stays idle (an idle server has nothing new to clean or back up either). The backup itself waits
while the newest one is younger than 20 hours, so restarts do not pile backups up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from shared.clock import Clock

log = logging.getLogger("gateway.daily")
DAY = 86400.0


class DailyRun:
    def __init__(self, run: Callable[[], object], clock: Clock, every: float = DAY) -> None:
        self._run = run
        self._clock = clock
        self._every = every
        self._due = 0.0  # the first request after start runs it
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def poke(self) -> None:
        """Cheap on every request: one comparison, unless the run is due."""
        if self._clock.now() < self._due:
            return
        with self._lock:
            now = self._clock.now()
            if now < self._due:
                return
            self._due = now + self._every
            self.thread = threading.Thread(target=self._guarded, name="daily-run", daemon=True)
            self.thread.start()

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception:  # logged; the next day tries again
            log.exception("the daily run failed")
