"""`phaselog bench report`: the time to write the phase log of a 20,000-step run (20 segments, 12 layers, every
table filled) from a synthesised store, cold (imports and font cache included) and warm."""
import platform
import statistics
import tempfile
import time
from pathlib import Path

from phaselog.reports.synthetic import synthesise_store

STEPS = 20_000
REPEATS = 5


def bench_report() -> dict:
    with tempfile.TemporaryDirectory(prefix="phaselog-bench-report-") as tmp:
        t0 = time.perf_counter()
        synthesise_store(Path(tmp), "bench", steps=STEPS)
        synthesis = time.perf_counter() - t0
        t0 = time.perf_counter()
        from phaselog.reports.build import write_report  # timed: a cold `phaselog report` pays for matplotlib's import

        write_report(Path(tmp), "bench", Path(tmp) / "out")
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            write_report(Path(tmp), "bench", Path(tmp) / "out")
            warm.append(time.perf_counter() - t0)
    spread = {"median": statistics.median(warm), "min": min(warm), "max": max(warm), "n": len(warm)}
    summary = "\n".join([
        f"phase-log report of a synthesised {STEPS:,}-step run (20 segments, 12 layers, all tables) on "
        f"{platform.processor() or platform.machine()}: store built in {synthesis:.1f} s",
        f"  cold (imports included): {cold:.2f} s (target < 10 s)",
        f"  warm: median {spread['median']:.2f} s (min {spread['min']:.2f}, max {spread['max']:.2f}, "
        f"{REPEATS} repeats)",
        "rerun: phaselog bench report [--json]"])
    return {"benchmark": "report", "steps": STEPS, "synthesis_seconds": synthesis, "cold_seconds": cold,
            "warm_seconds": spread, "summary": summary}
