"""The DuckDB store: one file under the phaselog home holds every run. The schema is the numbered SQL files in
`migrations/` (each table has a comment saying what a row is and what makes it unique), applied in order and
recorded in `schema_migrations`. Only the flow process writes; each write is one transaction that first deletes
the rows it replaces, so writing the same (run, step) twice leaves one row. Readers open read-only and cope
with a live writer by retrying, then by reading a snapshot copy."""
import shutil
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from phaselog.core.errors import PhaselogError

STORE_FILE = "phaselog.duckdb"


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def migrations() -> list[tuple[int, str, str]]:
    files = sorted(p for p in resources.files("phaselog.core").joinpath("migrations").iterdir() if p.name.endswith(".sql"))
    return [(int(p.name.split("_")[0]), p.name, p.read_text()) for p in files]


class Store:
    def __init__(self, home: Path):
        self.home = Path(home)
        self.path = self.home / STORE_FILE

    @contextmanager
    def writer(self, attempts: int = 50):
        """A connection inside one transaction; waits while another process (a reader) holds the file."""
        self.home.mkdir(parents=True, exist_ok=True)
        con = self._connect(read_only=False, attempts=attempts)
        try:
            con.execute("BEGIN")
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _connect(self, read_only: bool, attempts: int) -> duckdb.DuckDBPyConnection:
        for attempt in range(attempts):
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as err:
                if "lock" not in str(err).lower() or attempt == attempts - 1:
                    raise
                time.sleep(0.1)

    def migrate(self) -> None:
        with self.writer() as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                        "name VARCHAR, applied_at TIMESTAMP)")
            done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, name, sql in migrations():
                if version not in done:
                    con.execute(sql)
                    con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, now()])

    def replace_rows(self, table: str, rows: list[dict] | pa.Table, where: str, params: list,
                     attempts: int = 50) -> int:
        """Delete the rows matching `where`, then insert `rows` (matched to columns by name), in one transaction."""
        arrow = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
        with self.writer(attempts) as con:
            con.execute(f"DELETE FROM {table} WHERE {where}", params)
            if arrow.num_rows:
                con.register("incoming", arrow)
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
                con.unregister("incoming")
        return arrow.num_rows

    def execute(self, sql: str, params: list = ()) -> None:
        with self.writer() as con:
            con.execute(sql, params)

    @contextmanager
    def reader(self):
        """A read-only connection; while a writer holds the file, a snapshot copy of it."""
        if not self.path.is_file():
            raise PhaselogError(f"no store at {self.path}: run a phase first, or point --home at the right folder")
        try:
            con = self._connect(read_only=True, attempts=30)
            snapshot = None
        except duckdb.IOException:
            snapshot = Path(tempfile.mkdtemp(prefix="phaselog-snapshot-"))
            for suffix in ("", ".wal"):
                if Path(str(self.path) + suffix).exists():
                    shutil.copy(str(self.path) + suffix, snapshot / (STORE_FILE + suffix))
            con = duckdb.connect(str(snapshot / STORE_FILE), read_only=True)
        try:
            yield con
        finally:
            con.close()
            if snapshot is not None:
                shutil.rmtree(snapshot, ignore_errors=True)

    def query(self, sql: str, params: list = ()) -> tuple[list[str], list[tuple]]:
        with self.reader() as con:
            try:
                cursor = con.execute(sql, params)
            except duckdb.InvalidInputException as err:
                if "read-only" in str(err):
                    raise PhaselogError("the store is opened read-only here: `phaselog sql` runs queries, "
                                        "not writes") from None
                raise PhaselogError(f"SQL error: {err}") from None
            except duckdb.Error as err:
                raise PhaselogError(f"SQL error: {err}") from None
            columns = [d[0] for d in cursor.description] if cursor.description else []
            return columns, cursor.fetchall()

    def run_exists(self, run_id: str) -> bool:
        return self.path.is_file() and bool(self.query("SELECT 1 FROM runs WHERE run_id = ?", [run_id])[1])
