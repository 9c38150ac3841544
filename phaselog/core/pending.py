"""Store writes that wait on disk while another process holds the store. DuckDB lets one process write a file,
and a reader that opened it (a notebook's `duckdb.connect(path, read_only=True)`, the duckdb CLI, a BI tool)
keeps every writer out for as long as it stays open. A training run must not die of that: its writes are queued
here, in order, and applied by the next writer that gets the file, before its own write. The metric and probe
files the trainer wrote beside its checkpoints stay the source of truth; this queue only carries the rows.

A queued write is three files under HOME/inbox/store/, named by a sequence that sorts in write order:
NAME.rows.arrow (the rows, for a replace), NAME.params.arrow (the statement's parameters, one row, so dates and
lists keep their types) and NAME.json (the statement), written last by rename: a write without its .json is
not queued yet, and a crash loses nothing that was queued. The queue's first write names its store in
HOME/inbox/store/store.url: a lake given by a config's `store:` is not the home's default store, and `phaselog
store drain` must put the rows where the run meant them. Applying is idempotent per write (a replace deletes
what it replaces), so a crash after a commit and before the files are deleted only applies them again."""
import json
import os
import re
import time
from pathlib import Path

import pyarrow as pa

PENDING = Path("inbox") / "store"
QUEUED_FOR = "store.url"


def queue_write(home: Path, statement: dict, rows: pa.Table | None, params: list, store: str) -> Path:
    """Queue one write for the store whose URL is `store`."""
    folder = Path(home) / PENDING
    folder.mkdir(parents=True, exist_ok=True)
    if not pending_writes(home):
        (folder / QUEUED_FOR).write_text(store)
    name = f"{time.time_ns():020d}-{os.getpid()}"
    if rows is not None:
        write_arrow(folder / f"{name}.rows.arrow", rows)
    write_arrow(folder / f"{name}.params.arrow", pa.table({f"p{i}": [value] for i, value in enumerate(params)}))
    path = folder / f"{name}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({**statement, "has_rows": rows is not None}))
    os.replace(tmp, path)
    return path


def queued_for(home: Path) -> str | None:
    """The URL of the store the queued writes are for (None: nothing was ever queued)."""
    path = Path(home) / PENDING / QUEUED_FOR
    return path.read_text() if path.is_file() else None


def write_arrow(path: Path, table: pa.Table) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_arrow(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def pending_writes(home: Path) -> list[Path]:
    """The queued writes' .json files, in the order they were written."""
    return sorted((Path(home) / PENDING).glob("*.json"))


def apply_write(con, path: Path) -> None:
    """One queued write, inside the caller's transaction."""
    statement = json.loads(path.read_text())
    stem = path.name[:-len(".json")]
    params = read_arrow(path.with_name(f"{stem}.params.arrow")).to_pylist()
    rows = read_arrow(path.with_name(f"{stem}.rows.arrow")) if statement["has_rows"] else None
    execute_write(con, statement, rows, list(params[0].values()) if params else [])


def execute_write(con, statement: dict, rows: pa.Table | None, params: list) -> None:
    """A statement {"op": "execute", "sql"} or {"op": "replace", "table", "where"}: delete what `where` matches,
    then insert `rows` (matched to columns by name)."""
    if statement["op"] == "execute":
        con.execute(statement["sql"], params)
        return
    con.execute(f"DELETE FROM {statement['table']} WHERE {statement['where']}", params)
    if rows is not None:
        con.register("incoming", rows)
        con.execute(f"INSERT INTO {statement['table']} BY NAME SELECT * FROM incoming")
        con.unregister("incoming")


def forget_write(path: Path) -> None:
    stem = path.name[:-len(".json")]
    path.unlink(missing_ok=True)  # first: without its .json the write is no longer queued
    for suffix in (".rows.arrow", ".params.arrow"):
        path.with_name(stem + suffix).unlink(missing_ok=True)


def holder_of(err: Exception) -> str:
    """What holds the store, from DuckDB's lock error ("Conflicting lock is held in /usr/bin/python3 (PID 42)")."""
    found = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", str(err))
    return f"{found.group(1)} (pid {found.group(2)})" if found else "another process"
