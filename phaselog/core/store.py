"""The DuckDB store: one file under the phaselog home holds every run. The schema is the numbered SQL files in
`migrations/` (each table has a comment saying what a row is and what makes it unique), applied in order and
recorded in `schema_migrations`. Only the flow process writes; each write is one transaction that first deletes
the rows it replaces, so writing the same (run, step) twice leaves one row. Readers open read-only and cope
with a live writer by retrying, then by reading a snapshot copy.

A reader in another process can hold the file for as long as it likes. Inside `writes_queued_when_held()` (the
flow process, around a run) a write that cannot get the file is queued on disk (phaselog/pending.py) with one
warning naming the holder, and the run goes on; every writer applies the queue before its own write, and a
reader while writes are queued reads a snapshot with them applied, so the run sees its own writes.

The store may also be a DuckLake (phaselog/core/lake.py: a catalog in SQLite or PostgreSQL, the rows as Parquet
files), which several processes and machines write at once: no one holds it; each write is still one
delete-then-insert transaction, and one that fails for a cause that passes (a lost race on the lake's snapshot
after DuckLake's own retries, a busy SQLite catalog, a reset connection) runs again here. Its catalog can be
down (a PostgreSQL server restarting or failing over): inside writes_queued_when_held() a write that cannot reach
it is queued as a held file's is, with one warning per outage, and the next write that reaches the catalog puts
the queue in first. While writes wait, the run's reads see only what it wrote since the outage began (an empty
store with the queue applied): the catalog holds the rest."""
import atexit
import os
import random
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from phaselog.core.errors import PhaselogError, StoreHeld, StoreUnreachable
from phaselog.core.lake import (NO_AUTOLOAD, attach, connect_file, connect_lake, lake_connection, lake_ddl,
                                parse_store_url, postgres_lock)
from phaselog.core.locks import waiting_for
from phaselog.core.pending import (PENDING, apply_write, execute_write, forget_write, holder_of, pending_writes,
                                   queue_write, queued_for)

STORE_FILE = "phaselog.duckdb"
# `phaselog sql` runs what a user types: DuckDB's own switches keep it off the file system (no COPY TO, ATTACH,
# INSTALL or read_csv of other files) and stop it changing them back (no SET); only reading statements may run
SANDBOX = {"enable_external_access": False, "lock_configuration": True, "autoinstall_known_extensions": False,
           "autoload_known_extensions": False, "allow_community_extensions": False}
READING_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
MIGRATION_LOCK = 0x7068617365  # the advisory lock of a PostgreSQL catalog's migrations ("phase")
QUEUEING = {"on": False}  # set by writes_queued_when_held(); module-wide because the flow's tasks make their own Store
# the lakes (by URL) this process found unreachable and has not reached since: one warning per outage, not per write
OUTAGES: set[str] = set()
# per process, an empty store with every table: the view of a lake during an outage starts from a copy of it
EMPTY_STORE: dict[int, Path] = {}


@contextmanager
def writes_queued_when_held():
    QUEUEING["on"] = True
    try:
        yield
    finally:
        QUEUEING["on"] = False


def use_config_store(url: str) -> None:
    """A config's `store:` holds for the whole process that runs it (the CLI's run, a worker's flow-run process):
    every task makes its own Store, and a Store reads $PHASELOG_STORE."""
    if url:
        os.environ["PHASELOG_STORE"] = url


def is_lock_error(err: Exception) -> bool:
    return isinstance(err, duckdb.IOException) and "lock" in str(err).lower()


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def migrations() -> list[tuple[int, str, str]]:
    files = sorted(p for p in resources.files("phaselog.core").joinpath("migrations").iterdir() if p.name.endswith(".sql"))
    return [(int(p.name.split("_")[0]), p.name, p.read_text()) for p in files]


# causes that say the catalog cannot be reached at all (its server stopped, restarting, failing over): a run
# queues its writes at once rather than wait; other writers retry them like any transient cause
UNREACHABLE = ("unable to connect to postgres", "connection refused", "could not connect to server",
               "connection reset", "server closed the connection", "terminating connection",
               "no connection to the server", "the database system is shutting down",
               "the database system is starting up")
# causes that pass, after which a lake's transaction is run again: its commit lost the race on the snapshot to
# another writer's (after DuckLake's own retries), the SQLite catalog was busy with another commit past its wait, a
# PostgreSQL serialization failure or deadlock, a catalog that cannot be reached (a restart, a failover)
TRANSIENT = ("conflict", "database is locked", "database is busy", "could not serialize", "deadlock detected",
             *UNREACHABLE)


def is_transient(err: Exception) -> bool:
    return isinstance(err, duckdb.Error) and any(cause in str(err).lower() for cause in TRANSIENT)


def is_unreachable(err: Exception) -> bool:
    return isinstance(err, duckdb.Error) and any(cause in str(err).lower() for cause in UNREACHABLE)


class Store:
    def __init__(self, home: Path, url: str | None = None, lake_attempts: int = 12):
        """The store of `home`: at `url`, else $PHASELOG_STORE, else the home's DuckDB file. `lake_attempts`: how
        many times a lake's transaction runs before it gives up (about 15 s for 12)."""
        self.home = Path(home)
        self.lake_attempts = lake_attempts
        origin = "the store" if url else "$PHASELOG_STORE"
        self.url = parse_store_url(url or os.environ.get("PHASELOG_STORE") or str(self.home / STORE_FILE), origin)
        self.lake = self.url.kind == "ducklake"
        self.path = self.url.path  # the DuckDB file, or the SQLite catalog of a lake (None: a PostgreSQL one)

    def __str__(self) -> str:
        """The store as messages name it: the file (of a single-file store), else its URL."""
        return self.url.text if self.lake else str(self.path)

    def exists(self) -> bool:
        if not self.lake or self.url.catalog == "sqlite":
            return self.path.is_file()
        try:
            self._read("SELECT 1 FROM schema_migrations LIMIT 1", [], untrusted=False)
        except (PhaselogError, duckdb.CatalogException):
            return False
        return True

    @contextmanager
    def writer(self, attempts: int = 50, migrating: bool = False):
        """A connection inside one transaction, after the queued writes; waits while another process (a reader)
        holds the file. A store without tables (deleted or emptied while a run writes it) gets them first."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self.queue_lock():
            con = self._connect(read_only=False, attempts=attempts)
            con.execute("BEGIN")  # first: on a lake the check below then reads the snapshot the write reads anyway
            if not migrating and not has_tables(con):
                con.close()
                self.migrate()
                print(f"phaselog: warning: the store {self} had lost its tables (deleted or emptied while in use): "
                      "they are made again, and a run refills its rows from its files", file=sys.stderr, flush=True)
                con = self._connect(read_only=False, attempts=attempts)
                con.execute("BEGIN")
            try:
                queued = self.queued()
                for path in queued:
                    apply_write(con, path)
                yield con
                con.execute("COMMIT")
                # while this connection holds the file (a lake: the queue's lock): no other writer can apply them a
                # second time
                for path in queued:
                    forget_write(path)
            except BaseException as err:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # a failed COMMIT has ended the transaction already, or the connection is gone: the
                    # first error is the one to tell
                # a full disk, a read-only or failing file system (at COMMIT DuckDB says "Failed to commit: ...")
                if isinstance(err, (duckdb.IOException, duckdb.TransactionException)) and not (
                        self.lake and (is_transient(err) or QUEUEING["on"])):  # those the lake's writer runs again
                    raise self.write_failed(err) from None
                raise
            finally:
                con.close()
        if self.lake:
            self.back_from_outage(len(queued))

    @contextmanager
    def queue_lock(self):
        """A DuckDB file is locked by its writer already; a lake's writers of one home (the run, `journal add`, an
        explore page) take the queue's folder lock, so that no queued write is applied twice."""
        if not self.lake or not self.queued():
            yield
            return
        with waiting_for(self.home / PENDING):
            yield

    def write(self, statement: dict, rows: pa.Table | None, params: list, attempts: int = 50) -> None:
        """One write: now, or queued on disk while another process holds the file or a lake's catalog cannot be
        reached (inside writes_queued_when_held(); elsewhere StoreHeld after `attempts` tries of 0.1 s, or
        StoreUnreachable after the lake's tries)."""
        if QUEUEING["on"] and self.queued():
            # already waiting on a holder or an outage: queue behind the earlier writes (order matters), try the
            # store once
            queue_write(self.home, statement, rows, params, self.url.text)
            self.drain_pending(attempts=1)
            return
        if self.lake:
            try:
                self._write_lake(statement, rows, params)
            except StoreUnreachable as err:
                if not QUEUEING["on"]:
                    raise
                queue_write(self.home, statement, rows, params, self.url.text)
                self.note_outage(err.cause)
            return
        try:
            # a run waits 1 s, not 5, before it queues: the reader may stay for hours, and training goes on
            with self.writer(min(attempts, 10) if QUEUEING["on"] else attempts) as con:
                execute_write(con, statement, rows, params)
        except duckdb.IOException as err:
            if not is_lock_error(err):
                raise
            if not QUEUEING["on"]:
                raise StoreHeld(f"{self.path} is held by {holder_of(err)}: close that connection (a notebook, the "
                                "duckdb CLI) and try again") from None
            queue_write(self.home, statement, rows, params, self.url.text)
            print(f"phaselog: warning: {self.path} is held by {holder_of(err)}; the run goes on and its results "
                  f"wait in {self.home / PENDING} until the store is free (close that connection)",
                  file=sys.stderr, flush=True)

    def _write_lake(self, statement: dict, rows: pa.Table | None, params: list, attempts: int = 0) -> None:
        """A lake has no holder to wait on; a transaction that fails for a cause that passes (TRANSIENT) runs
        again on the newer snapshot after a growing pause, jittered so that writers that collided do not collide
        again: about 15 s in all (self.lake_attempts = 12) before StoreUnreachable with the whole cause. A run
        (writes_queued_when_held) does not wait for a catalog it cannot reach: its write queues at once."""
        attempts = attempts or self.lake_attempts
        for attempt in range(attempts):
            try:
                with self.writer() as con:
                    execute_write(con, statement, rows, params)
                return
            except duckdb.Error as err:
                # in a run, a write that failed for another cause runs once more: a catalog that goes down in the
                # middle of a transaction fails it in whatever query it was at, and the next try finds it away (a
                # single try, a drain's, tells the cause: a queued write that cannot go in must not wait silently)
                if not is_transient(err) and not (QUEUEING["on"] and attempt == 0 and attempts > 1):
                    if isinstance(err, (duckdb.IOException, duckdb.TransactionException)):
                        raise self.write_failed(err) from None
                    raise
                cause = " ".join(str(err).split())
                if attempt == attempts - 1 or (QUEUEING["on"] and is_unreachable(err)):
                    raise StoreUnreachable(
                        f"could not write the store {self}: {cause} ({attempt + 1} "
                        f"{'try' if attempt == 0 else 'tries'}); the store keeps what it had: `phaselog resume` "
                        "the run once it is back", cause) from None
                time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random()))

    def write_failed(self, err: Exception) -> PhaselogError:
        return PhaselogError(f"could not write the store {self}: {first_line(err)}; the store keeps what it had: fix "
                             "that, then `phaselog resume` the run")

    def note_outage(self, cause: str) -> None:
        """One warning when a run first finds the lake's catalog unreachable, none for the writes that follow."""
        if self.url.text in OUTAGES:
            return
        OUTAGES.add(self.url.text)
        print(f"phaselog: warning: the store {self} cannot be reached ({cause}); training goes on, its rows wait "
              f"in {self.home / PENDING} and go in, once each, at the first write that reaches the store",
              file=sys.stderr, flush=True)

    def back_from_outage(self, applied: int) -> None:
        if self.url.text in OUTAGES:
            OUTAGES.discard(self.url.text)
            waited = f": the {applied} writes that waited are in" if applied else ""
            print(f"phaselog: the store {self} is back{waited}", file=sys.stderr, flush=True)

    def queued(self) -> list[Path]:
        """The writes queued for this store (a queue left for another store of the home is not applied here)."""
        return pending_writes(self.home) if queued_for(self.home) in (None, self.url.text) else []

    def unreachable(self) -> bool:
        """Whether this process found the lake's catalog down and has not reached it since: its reads then see
        only the writes queued since (reader())."""
        return self.lake and self.url.text in OUTAGES

    def drain_pending(self, attempts: int = 50) -> bool:
        """Apply the queued writes. False: another process still holds the file, or the lake's catalog cannot be
        reached (`attempts` tries), and they stay queued."""
        if not self.queued():
            return True
        try:
            if self.lake:
                self._write_lake({"op": "execute", "sql": "SELECT 1"}, None, [], attempts)  # the queue goes first
                return True
            with self.writer(attempts):
                pass
        except duckdb.IOException as err:
            if not is_lock_error(err):
                raise
            return False
        except StoreUnreachable:
            return False
        return True

    def _connect(self, read_only: bool, attempts: int, config: dict | None = None) -> duckdb.DuckDBPyConnection:
        if self.lake:
            if self.url.catalog == "sqlite" and read_only and not self.path.is_file():
                raise PhaselogError(f"no store at {self}: run a phase first, or set PHASELOG_STORE to the right one")
            try:
                return connect_lake(self.url, read_only, config) if config else lake_connection(self.url)
            except duckdb.Error as err:  # the catalog's server is down, its file unreadable, the DSN wrong
                if is_transient(err) and (not read_only or QUEUEING["on"] and is_unreachable(err)):
                    raise  # the writer runs the transaction again; a run's reader reads what it queued
                raise PhaselogError(f"could not open the store {self}: {first_line(err)}") from None
        for attempt in range(attempts):
            try:
                return connect_file(str(self.path), read_only, config)
            except duckdb.IOException as err:
                if not is_lock_error(err):  # truncated, not DuckDB at all, unreadable
                    raise PhaselogError(f"{self.path} is not a readable DuckDB store ({first_line(err)}): move it "
                                        "aside (or restore a copy); `phaselog resume RUN_ID` then refills a new "
                                        "store from the run's files") from None
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1)

    def migrate(self) -> None:
        """Make the store's tables, or bring them up to date, by whichever process gets the lock first (an flock on
        the folder of a DuckDB file or SQLite catalog, an advisory lock in a PostgreSQL one); the others find them
        made. A new or empty store gets all its tables in one transaction, so no one ever sees half of them."""
        # on a lake, trainers only read here: DDL while many writers commit can run out of retries, so the
        # migrations run once, at setup, before the workers start (docs/scale.md)
        if self.exists() and self.schema_is_current():
            return  # nothing to write: a reader holding the file must not stop a run from starting
        ddl = lake_ddl if self.lake else (lambda sql: sql)

        def apply(con, version: int, name: str, sql: str) -> None:
            con.execute(ddl(sql))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, now()])

        with self.migration_lock():
            with self.writer(migrating=True) as con:
                con.execute(ddl("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                                "name VARCHAR, applied_at TIMESTAMP)"))
                done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
                todo = [m for m in migrations() if m[0] not in done]
                if not done:
                    for migration in todo:
                        apply(con, *migration)
                    todo = []
            for migration in todo:
                # an older store: a transaction each, since DuckDB cannot commit ALTER TABLE on a table the same
                # transaction updated (007 and 010 both add columns to runs and fill them)
                with self.writer(migrating=True) as con:
                    apply(con, *migration)

    @contextmanager
    def migration_lock(self):
        if self.url.catalog == "postgres":
            try:
                with postgres_lock(self.url.dsn, MIGRATION_LOCK):
                    yield
            except duckdb.Error as err:  # the catalog's server is down, the DSN wrong
                raise PhaselogError(f"could not open the store {self}: {first_line(err)}") from None
            return
        with waiting_for(self.path.parent):
            yield

    def replace_rows(self, table: str, rows: list[dict] | pa.Table, where: str, params: list,
                     attempts: int = 50) -> int:
        """Delete the rows matching `where`, then insert `rows` (matched to columns by name), in one transaction."""
        arrow = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
        self.write({"op": "replace", "table": table, "where": where}, arrow if arrow.num_rows else None,
                   list(params), attempts)
        return arrow.num_rows

    def execute(self, sql: str, params: list = ()) -> None:
        self.write({"op": "execute", "sql": sql}, None, list(params))

    def schema_is_current(self) -> bool:
        try:
            with self.reader() as con:
                recorded = {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}
        except (PhaselogError, duckdb.CatalogException):
            return False  # no store, or no schema_migrations table yet
        return {name for _, name, _ in migrations()} <= recorded

    @contextmanager
    def reader(self, config: dict | None = None):
        """A read-only connection; while a writer holds the file, a snapshot copy of it; while writes are queued,
        a snapshot with them applied. A run's reader of a lake whose catalog is down reads an empty store with the
        writes queued since the outage began applied: what the run wrote meanwhile (callers that need more ask
        unreachable())."""
        if not self.lake and not self.path.is_file():
            raise PhaselogError(f"no store at {self.path}: run a phase first, or point --home at the right folder")
        if self.lake and QUEUEING["on"] and self.queued():
            self.drain_pending(attempts=1)  # the catalog may be back: then the run reads all of it
        # outside a run a lake's reader reads the catalog: the queue is only what one run wrote during an outage
        queued = self.queued() if not self.lake or QUEUEING["on"] else []
        snapshot = None
        try:
            if queued:
                snapshot = self._snapshot()
                with duckdb.connect(str(snapshot / STORE_FILE)) as copy:
                    for path in queued:
                        apply_write(copy, path)
                con = connect_file(str(snapshot / STORE_FILE), True, config)
            else:
                try:
                    con = self._connect(read_only=True, attempts=30, config=config)
                except duckdb.Error as err:
                    if not (is_lock_error(err) or self.lake and is_unreachable(err)):
                        raise
                    if self.lake:
                        self.note_outage(" ".join(str(err).split()))
                    snapshot = self._snapshot()
                    con = connect_file(str(snapshot / STORE_FILE), True, config)
        except BaseException:
            if snapshot is not None:
                shutil.rmtree(snapshot, ignore_errors=True)
            raise
        try:
            yield con
        finally:
            con.close()
            if snapshot is not None:
                shutil.rmtree(snapshot, ignore_errors=True)

    def _snapshot(self) -> Path:
        snapshot = Path(tempfile.mkdtemp(prefix="phaselog-snapshot-"))
        if self.lake:  # its catalog is down: an empty store, to which the reader applies the queue
            shutil.copy(empty_store(), snapshot / STORE_FILE)
            return snapshot
        for suffix in ("", ".wal"):
            if Path(str(self.path) + suffix).exists():
                shutil.copy(str(self.path) + suffix, snapshot / (STORE_FILE + suffix))
        return snapshot

    def query(self, sql: str, params: list = (), untrusted: bool = False) -> tuple[list[str], list[tuple]]:
        """Rows of a query. `untrusted` (what a user typed): inside the SANDBOX, and reading statements only."""
        try:
            return self._read(sql, params, untrusted)
        except duckdb.CatalogException as err:
            if self.schema_is_current():
                raise PhaselogError(f"SQL error: {first_line(err)}") from None
        # an empty or half-made store (the duckdb CLI opened the path before the first run, a migration that
        # died): its tables are made, then the query runs on them
        self.migrate()
        return self.query(sql, params, untrusted)

    def _read(self, sql: str, params: list, untrusted: bool, again: bool = True) -> tuple[list[str], list[tuple]]:
        with self.reader(SANDBOX if untrusted else None) as con:
            try:
                if untrusted:
                    check_reads_only(con, sql)
                cursor = con.execute(sql, params)
                columns = [d[0] for d in cursor.description] if cursor.description else []
                return columns, cursor.fetchall()
            except duckdb.CatalogException:
                raise  # a table missing: query() tells a store without tables from a wrong name
            except duckdb.Error as err:
                if not (again and self.lake and QUEUEING["on"]):
                    raise read_failed(err) from None
        # a run's read of a lake whose catalog went down in the middle of it ("Failed to get data file list from
        # DuckLake: ..."): once more, which reads what the run queued when the catalog is away
        return self._read(sql, params, untrusted, again=False)

    def run_exists(self, run_id: str) -> bool:
        return self.exists() and bool(self.query("SELECT 1 FROM runs WHERE run_id = ?", [run_id])[1])


def empty_store() -> Path:
    """This process's empty store with every table, made on first use and removed at exit."""
    if os.getpid() not in EMPTY_STORE:
        folder = Path(tempfile.mkdtemp(prefix="phaselog-empty-store-"))
        atexit.register(shutil.rmtree, folder, True)
        Store(folder, f"duckdb:{folder / STORE_FILE}").migrate()
        EMPTY_STORE[os.getpid()] = folder / STORE_FILE
    return EMPTY_STORE[os.getpid()]


def copy_store(source: Store, target: Store) -> dict[str, int]:
    """Every row of `source` into `target` (a new or empty store of any kind), in one transaction: both are
    migrated first, then each table is copied by column name. Returns the rows copied per table."""
    if not source.exists():
        raise PhaselogError(f"no store at {source} to copy: give the URL (or file) of an existing store")
    source.drain_pending()
    source.migrate()
    target.migrate()
    con = duckdb.connect(config=NO_AUTOLOAD)
    try:
        try:
            attach(con, source.url, "source", read_only=True)
            attach(con, target.url, "target", read_only=False)
        except duckdb.Error as err:  # a single-file store held by a writer, an unreachable catalog
            raise PhaselogError(f"could not open both stores for the copy: {first_line(err)}") from None
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'source' AND schema_name = 'main' "
            "AND table_name <> 'schema_migrations' ORDER BY table_name").fetchall()]
        filled = [table for table in tables
                  if con.execute(f'SELECT count(*) FROM target.main."{table}"').fetchone()[0]]
        if filled:
            raise PhaselogError(f"{target} already holds rows ({', '.join(filled)}): `phaselog store copy` fills a "
                                "new or empty store only")
        copied = {}
        con.execute("BEGIN")
        for table in tables:
            con.execute(f'INSERT INTO target.main."{table}" BY NAME SELECT * FROM source.main."{table}"')
            copied[table] = con.execute(f'SELECT count(*) FROM source.main."{table}"').fetchone()[0]
        con.execute("COMMIT")
    finally:
        con.close()
    return copied


def check_reads_only(con, sql: str) -> None:
    """Each statement, as DuckDB's own parser sees it, must read (SELECT, SHOW, DESCRIBE, EXPLAIN, ...)."""
    for statement in con.extract_statements(sql):
        if statement.type not in READING_STATEMENTS:
            kind = statement.type.name.lower()
            raise PhaselogError(f"the store is opened read-only here: `phaselog sql` runs queries, not {kind} "
                                f"statements ({statement.query.strip()[:60]!r})")


def read_failed(err: duckdb.Error) -> PhaselogError:
    if isinstance(err, duckdb.InvalidInputException) and "read-only" in str(err):
        return PhaselogError("the store is opened read-only here: `phaselog sql` runs queries, not writes")
    if isinstance(err, duckdb.PermissionException):
        return PhaselogError(f"`phaselog sql` reads the store only, never other files (to join your own, open the "
                             f"store read-only in duckdb yourself): {first_line(err)}")
    return PhaselogError(f"SQL error: {first_line(err)}")


def has_tables(con) -> bool:
    """Whether the store has its tables; a failed check ends the transaction, and the caller then starts anew."""
    try:
        con.execute("SELECT version FROM schema_migrations LIMIT 0")  # no rows read: the catalog only
    except duckdb.CatalogException:
        return False
    return True


def first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]
