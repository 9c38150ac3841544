"""The journal: dated notes on a run at a step. The researcher writes them (`phaselog journal add`, a review's
note); the model's reflections are mirrored into it as model-authored entries, so both read side by side in step
order. Text is stored exactly as given and never interpreted; entries are capped at MAX_ENTRY_CHARS.

The store has one writer. `journal add` writes directly and waits (Store.writer retries) while another process
holds the file; a live run holds it only for the moments of its own writes, so an entry lands between them.
The exploration server cannot wait that long inside a request: it queues an entry as a file in the inbox
(HOME/inbox/journal/) and drains it when the store is free; the flow process drains the inbox too."""
import json
import os
import uuid
from datetime import datetime
from pathlib import Path

from phaselog.core.errors import PhaselogError
from phaselog.core.runs import run_record
from phaselog.core.store import Store, now

MAX_ENTRY_CHARS = 100_000
AUTHORS = ("human", "model")


def latest_step(store: Store, run_id: str) -> int:
    """The run's newest trained step, or its start step when it has not trained yet."""
    record = run_record(store, run_id)
    _, rows = store.query("SELECT max(step) FROM metrics WHERE run_id = ?", [run_id])
    return rows[0][0] if rows[0][0] is not None else record["start_step"]


def new_entry(store: Store, run_id: str, text: str, step: int | None = None, tags: list[str] = (),
              author: str = "human") -> dict:
    """A checked entry, not yet written."""
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
    if step is not None and not 0 <= step < 2**63:  # the store's BIGINT
        raise PhaselogError(f"journal --step {step}: steps are 0 or more and below 2^63")
    step = latest_step(store, run_id) if step is None else step
    return {"id": uuid.uuid4().hex, "run_id": run_id, "step": step, "author": author, "text": text,
            "tags": list(tags), "created_at": now()}


def add_entry(store: Store, run_id: str, text: str, step: int | None = None, tags: list[str] = (),
              author: str = "human") -> dict:
    entry = new_entry(store, run_id, text, step, tags, author)
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


INBOX = Path("inbox") / "journal"


def queue_entry(home: Path, entry: dict) -> Path:
    """The entry as HOME/inbox/journal/<id>.json, written to a temp name and renamed: once this returns, a crash
    loses nothing, and a drainer never reads half a file."""
    folder = Path(home) / INBOX
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entry['id']}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({**entry, "created_at": entry["created_at"].isoformat()}))
    os.replace(tmp, path)
    return path


def inbox_entries(home: Path) -> list[tuple[Path, dict]]:
    """Queued entries not yet in the store, with their files."""
    found = []
    for path in sorted((Path(home) / INBOX).glob("*.json")):
        try:
            entry = json.loads(path.read_text())
        except FileNotFoundError:
            continue  # another drainer wrote it meanwhile
        found.append((path, {**entry, "created_at": datetime.fromisoformat(entry["created_at"])}))
    return found


def drain_inbox(store: Store, attempts: int = 50) -> int:
    """Write the queued entries into the store, then delete their files. Idempotent by entry id, so two drainers
    racing write each entry once. While another process holds the store past `attempts` tries of 0.1 s, this
    raises StoreHeld and the files stay queued."""
    queued = inbox_entries(store.home)
    if not queued:
        return 0
    entries = [entry for _, entry in queued]
    store.replace_rows("journal", entries, "list_contains(?, id)", [[e["id"] for e in entries]], attempts)
    for path, _ in queued:
        path.unlink(missing_ok=True)
    return len(entries)
