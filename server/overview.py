"""The exploration server's read routes: the runs, one run's overview (loss and val bpb, health, loop and bias
events, a pending review) and its journal. Each request opens one read-only connection through Store.reader, which
copes with a live training process holding the file, and closes it before answering: the server never keeps the
store open between requests, so it never stands in the writer's way for longer than one query."""
import json
from contextlib import contextmanager
from datetime import datetime

import duckdb
from fastapi import APIRouter, HTTPException, Request

from phaselog.core.errors import PhaselogError
from phaselog.core.store import Store
from phaselog.server.inbox import queued_entries

router = APIRouter(prefix="/api")

# the chart is a few hundred pixels wide: more points than this only cost transfer and drawing time
LOSS_POINTS = 500
# a page, not an export: the newest events beyond this are in `phaselog sql`
MAX_EVENTS = 200
AUTHORS = ("human", "model")


@contextmanager
def reading(request: Request, run_id: str | None = None):
    """A read-only connection for one request; 404 when the store or the run does not exist."""
    store = Store(request.app.state.home)
    try:
        with store.reader() as con:
            if run_id is not None and not con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
                raise HTTPException(404, f"unknown run {run_id!r} in {store}: pick one from GET /api/runs")
            yield con
    except PhaselogError as err:  # no store file yet
        raise HTTPException(404, str(err)) from None


def records(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


RUNS_SQL = """
SELECT r.run_id, r.name, r.status, r.start_step, r.end_step, max(m.step) AS latest_step, r.device,
       r.created_at, r.updated_at, r.phase, r.parent_run, r.continued_from
FROM runs r LEFT JOIN metrics m USING (run_id)
WHERE ? IS NULL OR r.run_id = ?
GROUP BY ALL ORDER BY r.created_at DESC, r.run_id
"""


@router.get("/runs")
def list_runs(request: Request) -> list[dict]:
    with reading(request) as con:
        return records(con.execute(RUNS_SQL, [None, None]))


# Equal-count buckets of consecutive steps, each drawn as its mean loss at its last step: the curve keeps its
# shape at any run length, and only ~LOSS_POINTS rows leave the database. Non-finite losses cannot go into JSON;
# the health table reports them.
LOSS_SQL = """
WITH m AS (
    SELECT step, loss, row_number() OVER (ORDER BY step) - 1 AS i, count(*) OVER () AS n
    FROM metrics WHERE run_id = ? AND isfinite(loss)
)
SELECT max(step) AS step, avg(loss) AS loss FROM m
GROUP BY i // CAST(ceil(n / ?) AS BIGINT) ORDER BY step
"""


@router.get("/runs/{run_id}/overview")
def run_overview(request: Request, run_id: str) -> dict:
    with reading(request, run_id) as con:
        run = records(con.execute(RUNS_SQL, [run_id, run_id]))[0]
        loss = con.execute(LOSS_SQL, [run_id, float(LOSS_POINTS)]).fetchall()
        val_bpb = con.execute("SELECT step, value FROM evals WHERE run_id = ? AND name = 'val_bpb' "
                              "AND isfinite(value) ORDER BY step", [run_id]).fetchall()
        health = records(con.execute("SELECT step, segment_start, status, reasons, sentence FROM health "
                                     "WHERE run_id = ? ORDER BY step", [run_id]))
        loops_scanned = con.execute("SELECT count(*) FROM loop_events WHERE run_id = ?", [run_id]).fetchone()[0]
        loops = records(con.execute(
            "SELECT step, source, item, severity, period, unit, repeats, excerpt FROM loop_events "
            "WHERE run_id = ? AND is_loop ORDER BY step DESC, source, item LIMIT ?", [run_id, MAX_EVENTS]))
        bias = records(con.execute(
            "SELECT step, source, item, severity, category, terms, context, discounted, decision FROM bias_events "
            "WHERE run_id = ? AND source <> 'probe' AND severity <> 'none' ORDER BY step DESC, source, item LIMIT ?",
            [run_id, MAX_EVENTS]))
        # the paired-sentence probe at its latest checkpoint: the model's own lean, per category
        probe = records(con.execute(
            "SELECT step, category, severity, value, stderr FROM bias_events WHERE run_id = ? AND source = 'probe' "
            "AND step = (SELECT max(step) FROM bias_events WHERE run_id = ? AND source = 'probe') "
            "ORDER BY category", [run_id, run_id]))
        review = records(con.execute("SELECT step, reasons, description FROM reviews WHERE run_id = ? "
                                     "AND status = 'pending' ORDER BY step LIMIT 1", [run_id]))
        # the run's place in its phase: the parent is in `run`, the runs continuing this one here
        children = records(con.execute("SELECT run_id, continued_from FROM runs WHERE parent_run = ? "
                                       "ORDER BY continued_from, created_at", [run_id]))
    for row in health:
        row["reasons"] = json.loads(row["reasons"] or "[]")
    for row in review:
        row["reasons"] = json.loads(row["reasons"] or "[]")
    return {"run": run, "loss": [list(r) for r in loss], "val_bpb": [list(r) for r in val_bpb], "health": health,
            "loop_events": loops, "loops_scanned": loops_scanned, "bias_events": bias, "bias_probe": probe,
            "pending_review": review[0] if review else None, "children": children}


def wanted(entry: dict, author: str | None, from_step: int | None, to_step: int | None, tag: str | None) -> bool:
    return ((author is None or entry["author"] == author)
            and (from_step is None or entry["step"] >= from_step)
            and (to_step is None or entry["step"] <= to_step)
            and (tag is None or tag in entry["tags"]))


def as_entry(row: dict, queued: bool) -> dict:
    created = row.get("created_at")
    return {"id": row["id"], "step": row["step"], "author": row["author"], "text": row["text"],
            "tags": list(row.get("tags") or []), "queued": queued,
            "created_at": created.isoformat(sep=" ", timespec="seconds") if isinstance(created, datetime)
            else created}


@router.get("/runs/{run_id}/journal")
def run_journal(request: Request, run_id: str, author: str | None = None, from_step: int | None = None,
                to_step: int | None = None, tag: str | None = None) -> dict:
    """Entries in step order, the store's and those still queued for the writer; `tags` lists every tag of the run
    (before filtering), so the page's tag filter always offers them all."""
    if author is not None and author not in AUTHORS:
        raise HTTPException(400, f"author {author!r}: use human or model, or leave it out for both")
    if from_step is not None and to_step is not None and from_step > to_step:
        raise HTTPException(400, f"from_step {from_step} is after to_step {to_step}: swap them")
    with reading(request, run_id) as con:
        stored = records(con.execute("SELECT id, step, author, text, tags, created_at FROM journal "
                                     "WHERE run_id = ?", [run_id]))
    entries = [as_entry(row, queued=False) for row in stored]
    # an entry the writer drained between our two reads is in both: the store's copy wins
    seen = {e["id"] for e in entries}
    entries += [as_entry(row, queued=True) for row in queued_entries(request.app.state.home, run_id)
                if row["id"] not in seen]
    tags = sorted({t for e in entries for t in e["tags"]})
    entries = sorted((e for e in entries if wanted(e, author, from_step, to_step, tag)),
                     key=lambda e: (e["step"], e["created_at"] or "", e["id"]))
    return {"entries": entries, "tags": tags}
