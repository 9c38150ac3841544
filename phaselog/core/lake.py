"""Where the store is: its URL, and a DuckDB connection to a DuckLake store. A URL is one of
  duckdb:PATH                           one DuckDB file, one writing process (the default, HOME/phaselog.duckdb);
                                        a bare PATH means the same
  ducklake:sqlite:PATH?data=DIR         a DuckLake: its catalog in a SQLite file, its rows as Parquet under DIR;
                                        several processes on one machine write at once
  ducklake:postgres:DSN?data=DIR        the catalog in PostgreSQL (DSN as libpq takes it, `dbname=x host=y`),
                                        DIR on storage every machine sees: several machines write at once
given by the config's `store:`, else $PHASELOG_STORE, else the home's file. DuckDB loads the extensions from the
wheels pinned in pyproject.toml, by path: `INSTALL` downloads from a repository that may not be reachable, and an
extension only loads into the DuckDB version it was built for."""
import importlib
import os
import re
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import duckdb

from phaselog.core.errors import PhaselogError

LAKE = "lake"  # the name the DuckLake is attached under; `USE lake` makes its tables the unqualified ones
CATALOG_EXTENSIONS = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}
# extensions come only from the files LOADed here: never a download, never a surprise load
NO_AUTOLOAD = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# one DuckDB database per process and lake, the lake attached: LOADing the two extensions costs ~0.2 s, a
# connection to an open database (a cursor) nothing; keyed by pid, since a forked child must not use its parent's
OPEN: dict[tuple[int, str], duckdb.DuckDBPyConnection] = {}
OPENING = threading.Lock()


@dataclass(frozen=True)
class StoreURL:
    kind: str                 # duckdb | ducklake
    catalog: str = ""         # ducklake: sqlite | postgres
    path: Path | None = None  # duckdb: the file; ducklake:sqlite: the catalog file
    dsn: str = ""             # ducklake:postgres: the libpq connection string
    data: Path | None = None  # ducklake: the folder of the Parquet files

    @property
    def text(self) -> str:
        if self.kind == "duckdb":
            return f"duckdb:{self.path}"
        return f"ducklake:{self.catalog}:{self.path or self.dsn}?data={self.data}"


def parse_store_url(text: str, origin: str = "store") -> StoreURL:
    """`origin` names where the URL came from (the config's store, $PHASELOG_STORE) in errors."""
    text = text.strip()
    if not text:
        raise PhaselogError(f"{origin} is empty: give duckdb:PATH, ducklake:sqlite:PATH?data=DIR or "
                            "ducklake:postgres:DSN?data=DIR")
    scheme = re.match(r"([a-z]+):", text)
    if scheme is None or scheme.group(1) not in ("duckdb", "ducklake"):
        if scheme is not None and len(scheme.group(1)) > 1:  # one letter before ':' is a Windows drive, a path
            raise PhaselogError(f"{origin} {text!r}: unknown kind {scheme.group(1)!r}; give duckdb:PATH, "
                                "ducklake:sqlite:PATH?data=DIR or ducklake:postgres:DSN?data=DIR")
        return StoreURL("duckdb", path=Path(text).expanduser().resolve())
    if scheme.group(1) == "duckdb":
        rest = text[len("duckdb:"):]
        if not rest or "?" in rest:
            raise PhaselogError(f"{origin} {text!r}: duckdb: takes a file path and nothing else (duckdb:PATH)")
        return StoreURL("duckdb", path=Path(rest).expanduser().resolve())
    catalog, _, rest = text[len("ducklake:"):].partition(":")
    if catalog not in CATALOG_EXTENSIONS:
        raise PhaselogError(f"{origin} {text!r}: the DuckLake catalog {catalog!r} is not one phaselog knows; give "
                            "ducklake:sqlite:PATH?data=DIR or ducklake:postgres:DSN?data=DIR")
    where, _, query = rest.rpartition("?")
    options = parse_qs(query, keep_blank_values=True) if where else {}
    if not where or set(options) != {"data"} or not options["data"][0]:
        raise PhaselogError(f"{origin} {text!r}: a DuckLake needs its catalog and, after '?data=', the folder of "
                            f"its Parquet files and nothing else (ducklake:{catalog}:{'PATH' if catalog == 'sqlite' else 'DSN'}?data=DIR)")
    data = Path(options["data"][0]).expanduser().resolve()
    if catalog == "sqlite":
        return StoreURL("ducklake", "sqlite", path=Path(where).expanduser().resolve(), data=data)
    return StoreURL("ducklake", "postgres", dsn=where, data=data)


def extension_file(name: str) -> str:
    """The extension's file inside its wheel (duckdb_extension_NAME/extensions/vX.Y.Z/NAME.duckdb_extension)."""
    try:
        package = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise PhaselogError(f"the DuckDB extension {name} is not installed: `pip install "
                            f"duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}`") from None
    path = Path(package.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise PhaselogError(f"{path} is missing: the installed duckdb-extension-{name.replace('_', '-')} is not "
                            f"built for duckdb {duckdb.__version__}; install the same version as duckdb")
    return str(path)


def attach(con: duckdb.DuckDBPyConnection, url: StoreURL, alias: str, read_only: bool) -> None:
    """Attach the store at `url` to `con` as `alias` (loading what a DuckLake needs first)."""
    mode = ", READ_ONLY" if read_only else ""
    if url.kind == "duckdb":
        con.execute(f"ATTACH {quote(str(url.path))} AS {alias}{' (READ_ONLY)' if read_only else ''}")
        return
    for name in ("ducklake", CATALOG_EXTENSIONS[url.catalog]):
        con.execute(f"LOAD {quote(extension_file(name))}")
    where = str(url.path) if url.catalog == "sqlite" else url.dsn
    made = [] if read_only else make_data_folder(url.data)
    new_catalog = url.catalog == "sqlite" and not url.path.exists()
    # a SQLite catalog in WAL mode (readers never block a commit) and waiting up to 10 s for another writer's
    # commit before it says "database is locked" (then Store retries the transaction)
    sqlite = ", METADATA_PARAMETERS MAP {'JOURNAL_MODE': 'WAL', 'BUSY_TIMEOUT': '10000'}" if url.catalog == "sqlite" else ""
    try:
        con.execute(f"ATTACH {quote(f'ducklake:{url.catalog}:{where}')} AS {alias} "
                    f"(DATA_PATH {quote(str(url.data) + os.sep)}{mode}{sqlite})")
    except BaseException:
        # a failed open leaves nothing behind: no catalog that a later open takes for a made one, no empty folder
        if new_catalog:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{url.path}{suffix}").unlink(missing_ok=True)
        remove_empty(made)
        raise


def make_data_folder(data: Path) -> list[Path]:
    """The lake's data folder, made when missing and checked writable before anything else is made: a file
    there, or a folder this user cannot write (EPERM, a read-only file system), is one line naming the cause.
    Returns the folders it made, outermost first."""
    if data.exists() and not data.is_dir():
        raise PhaselogError(f"the lake's data={data} is a file, not a folder: give a folder (made when missing)")
    made = [folder for folder in [*reversed(data.parents), data] if not folder.exists()]
    try:
        data.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=data).close()
    except OSError as err:
        remove_empty(made)
        raise PhaselogError(f"cannot write the lake's data folder {data}: {err.strerror}; give a folder this user "
                            "can write") from None
    return made


def remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:  # not empty, or gone: keep what is not ours to remove
            pass


def lake_connection(url: StoreURL) -> duckdb.DuckDBPyConnection:
    """A new connection, in its own transactions, to this process's database with the lake attached."""
    key = (os.getpid(), url.text)
    with OPENING:
        if key not in OPEN:
            OPEN[key] = connect_lake(url, read_only=False)
        con = OPEN[key].cursor()
    con.execute(f"USE {LAKE}")
    return con


def connect_file(path: str, read_only: bool = False, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB file opened without the progress bar: DuckDB draws it on stdout for any query over 2 s, even into
    a pipe, which corrupts `phaselog sql --format json` on a slow machine. It can only be switched off per
    connection, so a locked configuration (the sandbox) is locked after it."""
    config = dict(config or {})
    lock = config.pop("lock_configuration", False)
    con = duckdb.connect(path, read_only=read_only, config=config)
    con.execute("SET enable_progress_bar = false")
    if lock:
        con.execute("SET lock_configuration = true")
    return con


def connect_lake(url: StoreURL, read_only: bool, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB with the lake attached and in use. `config` (the sandbox of `phaselog sql`, which
    needs a database of its own: its switches hold for the whole database) is applied after the ATTACH, which it
    would forbid, with the lake's own files the only ones left readable."""
    config = dict(config or {})
    closing = {key: config.pop(key) for key in ("enable_external_access", "lock_configuration") if key in config}
    con = duckdb.connect(config={**NO_AUTOLOAD, **config})
    try:
        attach(con, url, LAKE, read_only)
        con.execute(f"USE {LAKE}")
        con.execute("SET enable_progress_bar = false")  # see connect_file
        if closing.get("enable_external_access") is False:
            con.execute(f"SET allowed_directories = [{quote(str(url.data) + os.sep)}]")
            if url.catalog == "sqlite":
                con.execute(f"SET allowed_paths = [{quote(str(url.path))}]")
        for key, value in closing.items():
            con.execute(f"SET {key} = {str(value).lower()}")
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def postgres_lock(dsn: str, key: int):
    """PostgreSQL's advisory lock `key`, held for the block (waited for while another session holds it): a
    transaction lock in a connection of its own, so it ends with that connection even if this process dies."""
    con = duckdb.connect(config=NO_AUTOLOAD)
    try:
        con.execute(f"LOAD {quote(extension_file(CATALOG_EXTENSIONS['postgres']))}")
        con.execute(f"ATTACH {quote(dsn)} AS catalog (TYPE postgres)")
        con.execute("BEGIN")
        # ::text: pg_advisory_xact_lock returns void, a type DuckDB cannot read back
        con.execute(f"SELECT * FROM postgres_query('catalog', 'SELECT pg_advisory_xact_lock({key})::text')").fetchall()
        yield
    finally:
        con.close()  # the transaction and the lock end with the connection


def lake_ddl(sql: str) -> str:
    """A migration as DuckLake takes it: DuckLake has no PRIMARY KEY, UNIQUE or index, so the keys are dropped;
    one row per key is kept by every writer deleting what it replaces in the transaction that inserts
    (docs/scale.md). Plain DDL (ALTER TABLE ADD COLUMN, CREATE VIEW, UPDATE) passes as it is."""
    sql = re.sub(r"--[^\n]*", "", sql)  # first: a comment may sit between a column and the table's key
    sql = re.sub(r",\s*PRIMARY KEY\s*\([^)]*\)", "", sql)  # a table's key: PRIMARY KEY (run_id, step)
    return re.sub(r"\s+(PRIMARY KEY|UNIQUE)\b", "", sql)    # a column's: id VARCHAR PRIMARY KEY


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
