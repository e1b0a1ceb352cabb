"""One progress display for long commands: a Rich bar on a terminal, nothing anywhere else.

Services never print; those with long work take an optional ``progress(what, done, total)``
callback and call it as they go. A command opens :func:`progress` and passes the callback it
yields. The bar is drawn on stderr, only when stdout is a terminal too (``meshfabric apply |
tee log`` stays clean), and never with ``--json`` or under CI (``CI`` set), where a redrawn line
only litters logs. It is transient: once the work is done the terminal shows the command's
output alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

#: ``progress(what, done, total)``: ``what`` is being done, ``done`` of ``total`` steps are finished
ProgressFn = Callable[[str, int, int], None]


def _quiet(what: str, done: int, total: int) -> None:
    """The callback when nothing is shown."""


def shows_progress(console: Console | None = None, *, enabled: bool = True) -> bool:
    """Whether a progress bar would be drawn: ``enabled`` (False with --json), not under CI,
    and on a terminal (``console``'s, else both stdout's and stderr's)."""
    if not enabled or os.environ.get("CI") or os.environ.get("MESHFABRIC_NO_PROGRESS"):
        return False
    if console is not None:
        return console.is_terminal
    return sys.stdout.isatty() and Console(stderr=True).is_terminal


@contextmanager
def progress(*, enabled: bool = True, console: Console | None = None) -> Iterator[ProgressFn]:
    """A callback that moves one Rich bar, or does nothing when :func:`shows_progress` says no.

    Each call shows its ``what`` and sets the bar to ``done`` of ``total``; a new phase simply
    reports a new total. ``console`` (stderr by default) is where the bar is drawn.
    """
    if not shows_progress(console, enabled=enabled):
        yield _quiet
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("", total=None)

    def report(what: str, done: int, total: int) -> None:
        bar.update(task, description=what, completed=done, total=max(total, 1))

    with bar:
        yield report
