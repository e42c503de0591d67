"""How the commands print: tables and progress bars, colour only on a terminal, JSON on
request, notes on stderr unless --quiet, and an activity line for long commands on a
terminal. Piped, the text is plain and stable: no colour, no bars, no carriage returns."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

BAR_WIDTH = 20
GREEN, DIM, BOLD, RESET = "\033[32m", "\033[2m", "\033[1m", "\033[0m"


def is_terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


@dataclass
class Output:
    """Where and how a command prints."""

    quiet: bool = False
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr

    @property
    def tty(self) -> bool:
        return is_terminal(self.out)

    @property
    def colour(self) -> bool:
        return self.tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"

    def paint(self, text: str, style: str) -> str:
        return f"{style}{text}{RESET}" if self.colour and text else text

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A line on stderr for a person (which database, what happened); none with -q."""
        if not self.quiet:
            print(text, file=self.err, flush=True)

    def json(self, value: Any) -> None:
        self.print(json.dumps(value, default=_jsonable, ensure_ascii=False, indent=2))

    def bar(self, current: int, target: int) -> str:
        """A progress bar on a terminal; nothing when piped."""
        if not self.tty:
            return ""
        filled = bar_filled(current, target)
        return self.paint("█" * filled, GREEN) + self.paint("░" * (BAR_WIDTH - filled), DIM)

    @contextmanager
    def activity(self, label: str) -> Iterator[Activity]:
        """On a terminal (stderr) and without -q: one line saying what runs and for how long,
        redrawn until the block ends, then erased. Elsewhere nothing."""
        activity = Activity(label, self.err if is_terminal(self.err) and not self.quiet else None)
        activity.start()
        try:
            yield activity
        finally:
            activity.stop()


class Activity:
    """The line of Output.activity; say() changes its text."""

    def __init__(self, label: str, stream: TextIO | None) -> None:
        self.label = label
        self.stream = stream
        self.started = time.monotonic()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._draw, daemon=True)

    def say(self, label: str) -> None:
        self.label = label

    def start(self) -> None:
        if self.stream is not None:
            self.thread.start()

    def stop(self) -> None:
        if self.stream is not None:
            self.done.set()
            self.thread.join()
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _draw(self) -> None:
        assert self.stream is not None
        frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
        tick = 0
        while not self.done.wait(0.1):
            elapsed = time.monotonic() - self.started
            line = f"{frames[tick % len(frames)]} {self.label} ({elapsed:.0f} s)"
            self.stream.write("\r\033[K" + line[:200])
            self.stream.flush()
            tick += 1


def bar_filled(current: int, target: int) -> int:
    """How many of the BAR_WIDTH cells of a progress bar `current` out of `target` fills."""
    return 0 if target <= 0 else max(0, min(BAR_WIDTH, current * BAR_WIDTH // target))


def plain_bar(current: int, target: int) -> str:
    """The progress bar as plain text, for output that shows it also when piped (the demo)."""
    filled = bar_filled(current, target)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns separated by two spaces, padded to the widest cell (ANSI codes not counted)."""

    def width(cell: str) -> int:
        return len(_plain(cell))

    widths = [max([width(h), *(width(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = (c + " " * (w - width(c)) for c, w in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def _plain(text: str) -> str:
    for code in (GREEN, DIM, BOLD, RESET):
        text = text.replace(code, "")
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)
