"""Progress of the long management commands (simulate, ingest_file, replay_quarantine), on and off a terminal,
and the counts of their final lines.

On a terminal, tqdm's bar. Off one (a log file, `make run`'s output, a pipe), a plain line at each tenth of
the work, so a log shows how far a run got without a bar's carriage returns.
"""

import sys
import time

from tqdm import tqdm

STEPS = 10


class Progress:
    """Counts ``total`` units of work (``unit``, e.g. "packs") under ``label``; ``update(n)`` adds n."""

    def __init__(self, *, total: int, unit: str, label: str):
        self.total, self.unit, self.label = total, unit, label
        self.stream = sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self.bar = tqdm(total=total, unit=unit, desc=label, file=self.stream) if self._on_terminal() else None
        self.steps_shown = 0

    def _on_terminal(self):
        return self.stream.isatty()

    def update(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            return
        total = max(self.total, 1)
        step = STEPS * self.done // total
        if step > self.steps_shown:
            self.steps_shown = step
            elapsed = time.monotonic() - self.started
            self.stream.write(
                f"{self.label}: {self.done:,} of {self.total:,} {self.unit} ({100 * self.done // total}%), "
                f"{elapsed:.0f} s\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def counted(number: int, noun: str) -> str:
    """ "1 payload", "2 payloads": a count for a command's final line."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
