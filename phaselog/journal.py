"""The journal: dated notes on a run at a step. The researcher writes them (`phaselog journal add`, a review's
note); the model's reflections are mirrored into it as model-authored entries, so both read side by side in step
order. Text is stored exactly as given and never interpreted; entries are capped at MAX_ENTRY_CHARS.

The store has one writer. `journal add` writes directly and waits (Store.writer retries) while another process
holds the file; a live run holds it only for the moments of its own writes, so an entry lands between them."""
import uuid

from phaselog.errors import PhaselogError
from phaselog.runs import run_record
from phaselog.store import Store, now

MAX_ENTRY_CHARS = 100_000
AUTHORS = ("human", "model")


def latest_step(store: Store, run_id: str) -> int:
    """The run's newest trained step, or its start step when it has not trained yet."""
    record = run_record(store, run_id)
    _, rows = store.query("SELECT max(step) FROM metrics WHERE run_id = ?", [run_id])
    return rows[0][0] if rows[0][0] is not None else record["start_step"]


def add_entry(store: Store, run_id: str, text: str, step: int | None = None, tags: list[str] = (),
              author: str = "human") -> dict:
    if author not in AUTHORS:
        raise PhaselogError(f"journal author {author!r}: use one of {', '.join(AUTHORS)}")
    if not text.strip():
        raise PhaselogError(f"journal entry for run {run_id} is empty: write some text")
    if len(text) > MAX_ENTRY_CHARS:
        raise PhaselogError(f"journal entry for run {run_id} has {len(text):,} characters; the limit is "
                            f"{MAX_ENTRY_CHARS:,}: split it into several entries")
    if any(not tag.strip() for tag in tags):
        raise PhaselogError("journal --tag: a tag cannot be empty")
    run_record(store, run_id)  # an unknown run is an error naming the store
    if step is not None and step < 0:
        raise PhaselogError(f"journal --step {step}: steps are 0 or more")
    step = latest_step(store, run_id) if step is None else step
    entry = {"id": uuid.uuid4().hex, "run_id": run_id, "step": step, "author": author, "text": text,
             "tags": list(tags), "created_at": now()}
    store.replace_rows("journal", [entry], "id = ?", [entry["id"]])
    return entry


def list_entries(store: Store, run_id: str | None = None, author: str | None = None,
                 since_step: int | None = None) -> list[dict]:
    """Entries in step order (then in the order they were written)."""
    if run_id is not None:
        run_record(store, run_id)
    if author is not None and author not in AUTHORS:
        raise PhaselogError(f"journal --author {author!r}: use one of {', '.join(AUTHORS)}")
    columns, rows = store.query(
        "SELECT id, run_id, step, author, text, tags, created_at FROM journal "
        "WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR author = ?) AND (? IS NULL OR step >= ?) "
        "ORDER BY run_id, step, created_at, id", [run_id, run_id, author, author, since_step, since_step])
    return [dict(zip(columns, row)) for row in rows]


def record_reflections(store: Store, run_id: str, step: int, rows: list[dict]) -> None:
    """A step's reflections, replacing an earlier attempt's for the same prompt and framing, mirrored as model
    journal entries whose ids name the reflection (so a rerun replaces them too)."""
    if not rows:
        return
    version, framing = rows[0]["prompt_version"], rows[0]["framing"]
    store.replace_rows("reflections", rows, "run_id = ? AND step = ? AND prompt_version = ? AND framing = ?",
                       [run_id, step, version, framing])
    prefix = f"{run_id}:{step}:{version}:{framing}:"
    tags = ["reflection", version] + ([framing] if framing else [])
    entries = [{"id": f"{prefix}{r['sample_index']}", "run_id": run_id, "step": step, "author": "model",
                "text": r["text"], "tags": tags, "created_at": r["created_at"]} for r in rows]
    store.replace_rows("journal", entries, "starts_with(id, ?)", [prefix])


def training_loss_at(store: Store, run_id: str, step: int) -> float | None:
    _, rows = store.query("SELECT loss FROM metrics WHERE run_id = ? AND step = ?", [run_id, step])
    return rows[0][0] if rows else None
