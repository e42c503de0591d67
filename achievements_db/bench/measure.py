"""How the benchmark measures: workload sizes, result rows, timing one statement, and running a
workload and its twin alternately."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import psycopg

from achievements_db.errors import AchievementsError


@dataclass(frozen=True)
class Sizes:
    """How big each workload is; scaled(1) is the scale the targets are stated for."""

    bulk_rows: int
    bulk_users: int
    seconds: int  # per side and single-row workload, run as `slices` alternating slices
    slices: int
    hot_calls: int  # per connection and repetition
    hot_reps: int
    big_users: int
    small_users: int
    bulk_reps: int
    read_calls: int
    badges: int = 100

    @classmethod
    def scaled(cls, scale: float) -> Sizes:
        if scale <= 0:
            raise AchievementsError(f"--scale must be a positive number, got {scale}")

        def size(base: int, least: int) -> int:
            return max(least, round(base * scale))

        full = scale >= 0.5
        return cls(
            bulk_rows=size(100_000, 100),
            bulk_users=size(10_000, 10),
            seconds=size(10, 1),
            slices=5 if full else 1,
            hot_calls=size(1_000, 20),
            hot_reps=6 if full else 1,
            big_users=size(1_000_000, 200),
            small_users=size(10_000, 20),
            bulk_reps=5 if full else 1,
            read_calls=200 if full else 10,
        )


@dataclass
class Result:
    """One row of the table: the figure, the twin's figure, their ratio and the target."""

    workload: str
    unit: str
    target: str
    figure: float | None = None
    twin: float | None = None
    ratio: float | None = None
    passed: bool | None = None
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)


def checkpoint(conn: psycopg.Connection[Any]) -> None:
    """Starts a timed run with no dirty buffers pending, so a checkpoint rarely lands inside it."""
    with suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("CHECKPOINT")


def timed(
    conn: psycopg.Connection[Any], sql: str, params: Sequence[object] | Mapping[str, object] = ()
) -> float:
    """Seconds one autocommit statement takes, commit included, measured at the client."""
    started = time.perf_counter()
    conn.execute(sql, params)
    return time.perf_counter() - started


def finish(
    result: Result,
    figure: float,
    twin: float | None,
    *,
    higher_is_better: bool,
    limit: float | None,
    ratio: float | None = None,
) -> Result:
    """Fills in the figures, the ratio (figure / twin unless given) and whether it met `limit`."""
    result.figure, result.twin = figure, twin
    result.ratio = ratio if ratio is not None else (figure / twin if twin else None)
    if limit is not None and result.ratio is not None:
        result.passed = result.ratio >= limit if higher_is_better else result.ratio <= limit
    return result


def rotate(
    reps: int, sides: Sequence[tuple[str, Callable[[int], float]]]
) -> dict[str, list[float]]:
    """Runs every side `reps` times: in the order given on even repetitions, in reverse on odd
    ones (so each side runs as often first as last, and neighbours stay neighbours). Returns each
    side's samples by name."""
    samples: dict[str, list[float]] = {name: [] for name, _ in sides}
    for rep in range(reps):
        for name, run in sides if rep % 2 == 0 else list(reversed(sides)):
            samples[name].append(run(rep))
    return samples


def compare(
    result: Result,
    samples: dict[str, list[float]],
    mine: str,
    twin: str,
    *,
    higher_is_better: bool,
    limit: float | None,
) -> Result:
    """Fills `result` from two sides of a rotation: the medians of `mine` and `twin`, and the
    median of the ratios of the pairs run in the same repetition."""
    ours, theirs = samples[mine], samples[twin]
    result.samples = {"tracked": ours, "twin": theirs}
    paired = statistics.median(m / t for m, t in zip(ours, theirs, strict=True) if t)
    return finish(
        result,
        statistics.median(ours),
        statistics.median(theirs),
        higher_is_better=higher_is_better,
        limit=limit,
        ratio=paired,
    )


def alternate(
    reps: int, tracked: Callable[[int], float], twin: Callable[[int], float], result: Result
) -> tuple[float, float, float]:
    """Runs both sides `reps` times, alternating which goes first (the twin on even
    repetitions). Returns the two medians and the median of the ratios of the pairs run back to
    back, which drift of a shared machine (other work coming and going over minutes) disturbs
    least."""
    samples = rotate(reps, [("twin", twin), ("tracked", tracked)])
    mine, theirs = samples["tracked"], samples["twin"]
    result.samples = {"tracked": mine, "twin": theirs}
    paired = statistics.median(m / t for m, t in zip(mine, theirs, strict=True) if t)
    return statistics.median(mine), statistics.median(theirs), paired
