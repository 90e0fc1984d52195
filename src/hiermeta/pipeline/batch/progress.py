"""A plain progress line for batches (stderr): tasks done, failures, rate and time left."""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any, TextIO

__all__ = ["ProgressLine"]

#: Rows over which the current pace is measured.
WINDOW = 20


class ProgressLine:
    """Redraws one line on a terminal; elsewhere (logs, CI) prints a line every 10%.

    Call it as ``progress(row, done, total)`` — the signature of a batch's ``progress``
    callback — and :meth:`close` at the end.
    """

    def __init__(self, total: int, resumed: int = 0, stream: TextIO | None = None) -> None:
        self.total, self.resumed = total, resumed
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.failed = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_tenth = -1
        self.done = resumed
        # (time, done) of recent rows: the time left follows the current pace, not the average
        # (exact tasks finish by thousands at once, NUTS tasks one every few seconds)
        self._recent: deque[tuple[float, int]] = deque(maxlen=WINDOW)
        if resumed:
            self.stream.write(f"batch: {resumed} of {total} tasks already done (resuming)\n")

    def __call__(self, row: dict[str, Any], done: int, total: int) -> None:
        self.done = done
        self.failed += row.get("status") == "failed"
        now = time.perf_counter()
        if not self._recent or self._recent[-1][0] != now:
            self._recent.append((now, done))
        tenth = 10 * done // max(total, 1)
        if self.tty and (now - self._last_draw > 0.1 or done == total):
            self.stream.write("\r" + self._text(now))
            self._last_draw = now
        elif not self.tty and tenth != self._last_tenth:
            self.stream.write(self._text(now) + "\n")
            self._last_tenth = tenth
        self.stream.flush()

    def _text(self, now: float) -> str:
        ran = self.done - self.resumed
        elapsed = now - self.start
        rate = ran / elapsed if elapsed > 0 else 0.0
        pace = rate
        if len(self._recent) >= 2:
            (t0, d0), (t1, d1) = self._recent[0], self._recent[-1]
            pace = (d1 - d0) / (t1 - t0) if t1 > t0 else rate
        left = (self.total - self.done) / pace if pace > 0 else float("nan")
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        eta = f"{left:.0f} s left" if left == left else "…"
        return (
            f"batch [{bar}] {self.done}/{self.total} tasks · {self.failed} failed · "
            f"{rate:.1f} tasks/s · {eta}   "
        )

    def close(self) -> None:
        """Finish the line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
