"""Progress of `bootstrap build`'s Ninja run, as users of long builds expect:
`[N/M]`, percent, elapsed and estimated remaining time, on a terminal as one
line rewritten in place, otherwise one line a minute (plus the first and the
last). N and M count the whole build, also after a resume: Ninja's own `[N/M]`
only counts what is left to do in this run, so the caller passes the number
of steps of the whole build (`ninja -t commands`) and the difference to this
run's M counts as already built. The estimate uses this run's rate."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from cargo_mlir.term import Shell

# %f finished, %t total: the only format our parser reads, whatever the user's NINJA_STATUS
NINJA_STATUS = "[%f/%t] "

_STATUS = re.compile(r"^\[(\d+)/(\d+)\]")
# LLVM builds its runtimes as an ExternalProject, a nested Ninja build with its own
# count, run in the console pool: while it runs, the outer Ninja prints nothing else
_NESTED = re.compile(r"Performing build step for '([^']+)'")


def ninja_progress(line: str) -> tuple[int, int] | None:
    """(finished, total) from a `[N/M] …` line."""
    m = _STATUS.match(line)
    return (int(m.group(1)), int(m.group(2))) if m and int(m.group(2)) > 0 else None


def duration(seconds: float) -> str:
    """42s, 12m05s, 3h07m."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class Counter:
    """One Ninja build's count: `already` steps built before this run."""
    label: str
    started: float
    already: int = 0
    done: int = 0           # Ninja's N and M of this run
    total: int = 0

    @property
    def figures(self) -> tuple[int, int]:
        return self.already + self.done, self.already + self.total

    def where(self) -> str:
        done, total = self.figures
        return f"[{done}/{total}] ({done * 100 // total}%)"

    def describe(self, now: float) -> str:
        done, total = self.figures
        elapsed = now - self.started
        text = f"{self.label} [{done}/{total}] {done * 100 // total}%, {duration(elapsed)}"
        # the rate of this run only: steps built before it took unknown time
        if self.done and elapsed >= 10 and done < total:
            left = (total - done) * elapsed / self.done
            text += f", about {duration(left)} left"
        return text


class Progress:
    """Shows a build's output: every line with -v, otherwise the progress of
    Ninja's `[N/M]` lines (`show=False`: none, as for CMake's configure). Every
    line also goes to `log`. `all_steps`: the steps of the whole build (None:
    unknown, count this run only)."""

    def __init__(self, shell: Shell, verb: str, label: str, log: TextIO, *, show: bool = True,
                 all_steps: int | None = None, live: bool | None = None, every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.shell, self.verb, self.label, self.log, self.show = shell, verb, label, log, show
        self.all_steps, self.every, self.clock = all_steps, every, clock
        self.live = shell.is_tty if live is None else live
        self.outer: Counter | None = None
        self.nested: Counter | None = None
        self.nested_label: str | None = None
        self.started = clock()
        self.last_shown = float("-inf")

    def __call__(self, line: str) -> None:
        self.log.write(line + "\n")
        if self.shell.verbosity > 0:
            self.shell.stream.write(line + "\n")
        progress = ninja_progress(line) if self.show else None
        if progress is None:
            return
        counter = self._count(*progress)
        if step := _NESTED.search(line):
            if counter is self.outer:
                self.nested_label = step.group(1)
        if self.shell.verbosity == 0:
            self._display(counter)

    def _count(self, done: int, total: int) -> Counter:
        now = self.clock()
        if self.outer is None:
            already = max(0, self.all_steps - total) if self.all_steps else 0
            self.outer = Counter(self.label, self.started, already)
        elif self.nested_label and total != self.outer.total:
            if self.nested is None:
                self.nested = Counter(self.nested_label, now)
                self.last_shown = float("-inf")     # its first line
            self.nested.done, self.nested.total = done, total
            return self.nested
        elif self.nested is not None:               # back in the outer build
            self.nested = self.nested_label = None
            self.last_shown = float("-inf")
        self.outer.done, self.outer.total = done, total
        return self.outer

    def _display(self, counter: Counter) -> None:
        now = self.clock()
        done, total = counter.figures
        if self.live:
            if now - self.last_shown >= 0.1 or done == total:   # a redraw per line would cost more than the build
                self.shell.live(self.verb, counter.describe(now))
                self.last_shown = now
        elif now - self.last_shown >= self.every or done == total:
            self.shell.status(self.verb, counter.describe(now))
            self.last_shown = now

    def where(self) -> str | None:
        """How far the build got, for the interrupt line."""
        if self.nested is not None:
            return f"{self.outer.where()}, {self.nested.label} {self.nested.where()}"
        return self.outer.where() if self.outer else None

    def finish(self) -> None:
        self.shell.clear_live()
