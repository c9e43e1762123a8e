"""How the benchmarks print a series of timings: median and spread (min–max),
and the machine's load beside them (the figures mean little without it)."""

from __future__ import annotations

import os
import statistics


def median_spread(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    """'median (min–max)' of ``values`` times ``scale``."""
    v = [x * scale for x in values]
    return f"{statistics.median(v):.{digits}f} ({min(v):.{digits}f}–{max(v):.{digits}f})"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"
