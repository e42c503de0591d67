"""The benchmark's report: the server settings it ran on, one table of figures, twins, ratios
and targets, and optionally every sample as JSON."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from achievements_db.bench.drivers import Driver
from achievements_db.bench.measure import Result, Sizes
from achievements_db.conninfo import Target
from achievements_db.database import connect

# Server settings the report names, so a reader knows what the figures were measured on.
REPORTED_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "shared_buffers",
    "work_mem",
    "max_wal_size",
    "jit",
)


def server_settings(target: Target) -> dict[str, str]:
    with connect(target) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name",
            (list(REPORTED_SETTINGS),),
        ).fetchall()
    return dict(rows)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.3f} ms" if value < 10 else f"{value:,.0f} ms"
    if unit == "tps":
        return f"{value:,.0f} tps"
    return f"{value:,.0f}"


def format_table(results: Sequence[Result]) -> str:
    """One line per result: workload, figure, twin, ratio, target, pass/FAIL (and its note)."""
    header = ("workload", "figure", "twin", "ratio", "target", "result")
    rows = [header]
    for r in results:
        verdict = "-" if r.passed is None else ("pass" if r.passed else "FAIL")
        if r.note:
            verdict += f" ({r.note})"
        rows.append(
            (
                r.workload,
                _fmt(r.figure, r.unit),
                _fmt(r.twin, r.unit),
                "-" if r.ratio is None else f"{r.ratio:.3f}x",
                r.target,
                verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for n, row in enumerate(rows):
        numbers = zip(row[1:-1], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in numbers]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    return "\n".join(lines)


def report(
    results: list[Result],
    started: datetime,
    scale: float,
    sizes: Sizes,
    driver: Driver,
    settings: dict[str, str],
    json_path: str | None,
) -> None:
    """Prints the table to stdout and, with `json_path`, writes every sample there."""
    print(
        f"achievements-db bench, {started:%Y-%m-%d %H:%M} UTC, scale {scale:g}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"driver {driver.name}"
    )
    print("server: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(format_table(results))
    judged = [r for r in results if r.passed is not None]
    print(f"{sum(bool(r.passed) for r in judged)} of {len(judged)} targets met", flush=True)
    if json_path:
        Path(json_path).write_text(
            json.dumps(
                {
                    "started_at": started.isoformat(),
                    "scale": scale,
                    "sizes": asdict(sizes),
                    "cpus": os.cpu_count(),
                    "machine": f"{platform.system()} {platform.machine()} {platform.release()}",
                    "driver": driver.name,
                    "settings": settings,
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
            + "\n"
        )
