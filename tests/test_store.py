"""The store's contract on each kind of store: the migrations, one row per key after rewrites, the journal's
idempotent drain and `phaselog sql`'s sandbox run on a single DuckDB file and on a DuckLake with a SQLite catalog
(the PostgreSQL catalog is tested with several writers in tests/test_lake_postgres.py); `phaselog store copy`
moves a real run's home between them and back without a row lost or changed."""
import json
import os
import subprocess
import sys

import duckdb
import pytest

from phaselog.bench.store import REPEATS, time_segment_writes
from phaselog.cli import main
from phaselog.core.errors import PhaselogError
from phaselog.core.journal import drain_inbox, list_entries, new_entry, queue_entry
from phaselog.core.lake import parse_store_url
from phaselog.core.pending import pending_writes
from phaselog.core.runs import register_run
from phaselog.core.store import Store, migrations, writes_queued_when_held
from tests.conftest import REPO
from tests.test_faults import reader_holding


def lake_url(folder) -> str:
    return f"ducklake:sqlite:{folder / 'catalog.sqlite'}?data={folder / 'lake'}"


@pytest.fixture(params=["duckdb", "ducklake:sqlite"])
def store(request, tmp_path, monkeypatch):
    """An empty, migrated store of each kind; PHASELOG_STORE names it, so the command line uses it too."""
    url = f"duckdb:{tmp_path / 'phaselog.duckdb'}" if request.param == "duckdb" else lake_url(tmp_path)
    monkeypatch.setenv("PHASELOG_STORE", url)
    store = Store(tmp_path)
    store.migrate()
    return store


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_migrations_run_once_and_every_table_takes_its_rows(store):
    _, applied = store.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied == [(version, name) for version, name, _ in migrations()]
    store.migrate()  # current: nothing runs again
    assert store.query("SELECT count(*) FROM schema_migrations")[1] == [(len(migrations()),)]
    _, columns = store.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'runs'")
    assert {"run_id", "phase", "parent_run", "config_diff"} <= {c for (c,) in columns}  # 001 and 007's ALTERs


# a `phaselog store migrate` that starts once the file GO exists: the processes are all loaded and waiting when it
# appears, so their migrations meet (two started plainly raced 5 times in 5 on a loaded machine, issue 42)
MIGRATE_ON_GO = """
import sys, time
from pathlib import Path
from phaselog.cli import main
print("ready", flush=True)
while not Path(sys.argv[1]).exists():
    time.sleep(0.01)
sys.exit(main(["store", "migrate", "--home", sys.argv[2]]))
"""


@pytest.mark.parametrize("kind", ["duckdb", "ducklake:sqlite"])
def test_concurrent_migrations_of_a_new_store_all_succeed_and_make_it_once(tmp_path, kind):
    url = f"duckdb:{tmp_path / 'phaselog.duckdb'}" if kind == "duckdb" else lake_url(tmp_path)
    env = {**os.environ, "PHASELOG_STORE": url}
    migrators = [subprocess.Popen([sys.executable, "-c", MIGRATE_ON_GO, str(tmp_path / "go"), str(tmp_path)],
                                  cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    try:
        assert all(m.stdout.readline() == "ready\n" for m in migrators)
        (tmp_path / "go").touch()
        results = [(m.wait(timeout=300), m.stdout.read(), m.stderr.read()) for m in migrators]
    finally:
        for m in migrators:
            m.kill()
            m.wait()
    assert all(code == 0 and "are up to date" in out for code, out, _ in results), results
    _, applied = Store(tmp_path, url).query("SELECT version FROM schema_migrations ORDER BY version")
    assert applied == [(version,) for version, _, _ in migrations()]


# a writer process: on GO it migrates the store (the lake is new: the writers' migrations meet too), then writes
# its 100 segments of 10 steps, each one delete-then-insert transaction as a run records a segment
SEGMENT_WRITER = """
import sys, time
from pathlib import Path
from phaselog.core.store import Store
go, url, run_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = Store(go.parent / run_id, url)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)
store.migrate()
for first in range(1, 1001, 10):
    rows = [{"run_id": run_id, "step": step, "loss": step / 1000} for step in range(first, first + 10)]
    store.replace_rows("metrics", rows, "run_id = ? AND step BETWEEN ? AND ?", [run_id, first, first + 9])
"""


def three_writers_write_every_segment_once(folder, url: str) -> None:
    """3 writer processes x 100 segment writes into a new lake at `url`: every row there once, none lost."""
    writers = [subprocess.Popen([sys.executable, "-c", SEGMENT_WRITER, str(folder / "go"), url, f"writer-{n}"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for n in range(3)]
    try:
        assert all(w.stdout.readline() == "ready\n" for w in writers)
        (folder / "go").touch()
        results = [(w.wait(timeout=600), w.stderr.read()) for w in writers]
    finally:
        for w in writers:
            w.kill()
            w.wait()
    assert all(code == 0 for code, _ in results), results
    _, counts = Store(folder / "reader", url).query(
        "SELECT run_id, count(*), count(DISTINCT step), min(step), max(step), sum(loss) FROM metrics GROUP BY run_id "
        "ORDER BY run_id")
    assert [row[:5] for row in counts] == [(f"writer-{n}", 1000, 1000, 1, 1000) for n in range(3)]
    assert all(abs(row[5] - 500.5) < 1e-6 for row in counts)  # each step's own loss: no row from another write


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder this user cannot write: a read-only tmpfs as root (who may write any folder), else mode 555."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder, "Permission denied"
        folder.chmod(0o755)
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder, "Read-only file system"
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("where", ["a file", "a read-only folder", "inside a read-only folder"])
def test_a_lake_data_folder_that_cannot_be_written_is_one_line_and_leaves_nothing(capsys, monkeypatch, tmp_path,
                                                                                 read_only_folder, where):
    """A file there was a raw FileExistsError; a read-only folder named "No such file or directory" and left a
    half-made catalog that blocked later commands, and failed opens left empty data folders (issue 42)."""
    folder, cause = read_only_folder
    (tmp_path / "a-file").write_text("not a folder")
    data = {"a file": tmp_path / "a-file", "a read-only folder": folder,
            "inside a read-only folder": folder / "lake"}[where]
    catalog = tmp_path / "catalog.sqlite"
    monkeypatch.setenv("PHASELOG_STORE", f"ducklake:sqlite:{catalog}?data={data}")
    before = sorted(tmp_path.rglob("*"))
    code, _, err = run_cli(capsys, "store", "migrate", "--home", str(tmp_path / "home"))  # as a run's start does
    message = "is a file, not a folder" if where == "a file" else f"cannot write the lake's data folder {data}: {cause}"
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert sorted(p for p in tmp_path.rglob("*") if p.name != "home") == before  # no catalog, no data folder
    monkeypatch.setenv("PHASELOG_STORE", lake_url(tmp_path))  # the same catalog path with a good data folder
    assert run_cli(capsys, "store", "migrate", "--home", str(tmp_path / "home"))[0] == 0
    assert run_cli(capsys, "journal", "list", "--home", str(tmp_path / "home")) == (0, "(0 entries)\n", "")


def test_three_writers_into_a_sqlite_lake_lose_and_double_nothing(tmp_path):
    """Two writers lost 7 of 60 writes to SQLite's "database is locked", three 12 of 90 (issue 42)."""
    three_writers_write_every_segment_once(tmp_path, lake_url(tmp_path))


def test_an_empty_store_file_is_migrated_not_reported_missing(capsys, tmp_path):
    duckdb.connect(str(tmp_path / "phaselog.duckdb")).close()  # what the duckdb CLI leaves when it opens the path
    assert run_cli(capsys, "journal", "list", "--home", str(tmp_path)) == (0, "(0 entries)\n", "")
    store = Store(tmp_path)
    assert store.schema_is_current() and not store.run_exists("any")


def test_rewriting_a_step_range_leaves_one_row_per_step_and_other_runs_alone(store):
    def write(run_id, first, last, loss):
        store.replace_rows("metrics", [{"run_id": run_id, "step": s, "loss": loss} for s in range(first, last + 1)],
                           "run_id = ? AND step BETWEEN ? AND ?", [run_id, first, last])

    write("a", 1, 20, 1.0)
    write("b", 1, 20, 5.0)
    write("a", 11, 20, 2.0)  # a resumed segment writes its range again
    write("a", 11, 20, 2.0)
    _, rows = store.query("SELECT run_id, count(*), count(DISTINCT step), sum(loss) FROM metrics GROUP BY run_id "
                          "ORDER BY run_id")
    assert rows == [("a", 20, 20, 30.0), ("b", 20, 20, 100.0)]


def test_a_journal_entry_drained_twice_is_stored_once(store, tiny_config):
    register_run(store, "journal-run", tiny_config(), store.home / "journal-run", "cpu", 1.0)
    entry = new_entry(store, "journal-run", "loss flattened after warmup", step=7, tags=["check-in"])
    queue_entry(store.home, entry)
    assert drain_inbox(store) == 1
    queue_entry(store.home, entry)  # a second drainer raced the first and wrote the same file again
    assert drain_inbox(store) == 1
    entries = list_entries(store, "journal-run")
    assert [(e["text"], e["tags"]) for e in entries] == [("loss flattened after warmup", ["check-in"])]


def test_sql_reads_and_refuses_writes_settings_and_other_files(capsys, store):
    store.replace_rows("metrics", [{"run_id": "a", "step": 1, "loss": 1.5}], "run_id = ?", ["a"])
    notes = store.home / "notes.csv"
    notes.write_text("a\n1\n")
    for statement in ["DELETE FROM metrics", "DROP TABLE runs", "SET threads = 1", f"SELECT * FROM read_csv('{notes}')",
                      f"ATTACH '{notes}.duckdb' AS other", "SELECT 1; INSERT INTO evals VALUES ('x', 1, 'y', 2)"]:
        code, _, err = run_cli(capsys, "sql", statement, "--home", str(store.home))
        assert code == 2 and err.startswith("phaselog: error: ") and len(err.strip().splitlines()) == 1, err
    assert run_cli(capsys, "sql", "SELECT step, loss FROM metrics UNION ALL SELECT count(*), 0 FROM evals",
                   "--home", str(store.home), "--format", "json")[:2] == (
        0, '[\n {\n  "step": 1,\n  "loss": 1.5\n },\n {\n  "step": 0,\n  "loss": 0.0\n }\n]\n')


def test_sql_draws_no_progress_bar_into_its_output(capsys, store):
    """DuckDB draws a progress bar on stdout for a query over 2 s, even into a pipe: `phaselog sql --format json`
    on a slow machine printed it before the JSON (seen in a lake test under load). Its connections switch it off,
    the sandbox's locked ones too; the setting is read rather than a slow query timed."""
    store.replace_rows("metrics", [{"run_id": "a", "step": 1, "loss": 1.5}], "run_id = ?", ["a"])
    code, out, _ = run_cli(capsys, "sql", "SELECT current_setting('enable_progress_bar') AS bar",
                           "--home", str(store.home), "--format", "json")
    assert code == 0 and json.loads(out) == [{"bar": False}]


def test_store_copy_moves_a_real_run_to_a_lake_and_back_unchanged(capsys, tiny_run, tmp_path):
    home, run_id, _ = tiny_run
    there, back = lake_url(tmp_path), f"duckdb:{tmp_path / 'back.duckdb'}"
    code, out, _ = run_cli(capsys, "store", "copy", str(home / "phaselog.duckdb"), there, "--home", str(tmp_path))
    assert code == 0 and "rows of" in out
    assert run_cli(capsys, "store", "copy", there, back, "--home", str(tmp_path))[0] == 0
    original, copied = Store(home, f"duckdb:{home / 'phaselog.duckdb'}"), Store(tmp_path, back)
    _, tables = original.query("SELECT table_name FROM duckdb_tables() WHERE table_name <> 'schema_migrations'")
    for (table,) in tables:
        everything = f'SELECT * FROM "{table}" ORDER BY ALL'
        assert copied.query(everything) == original.query(everything), table
    assert copied.query("SELECT count(*) FROM metrics WHERE run_id = ?", [run_id])[1] == [(60,)]
    # into a store that holds rows already: refused, nothing written
    code, _, err = run_cli(capsys, "store", "copy", there, back, "--home", str(tmp_path))
    assert code == 2 and "already holds rows" in err
    assert copied.query("SELECT count(*) FROM metrics")[1] == [(60,)]


def test_the_reading_commands_work_on_a_lake(capsys, tiny_run, tmp_path, monkeypatch):
    """A real run moved into a DuckLake is read there by every command a person reads a store with: the run's log
    and the phase's, the journal (which also writes), sql and the explore page's API (the run's own folder keeps
    its checkpoints, so the page can talk to it)."""
    from fastapi.testclient import TestClient

    from phaselog.server.app import create_app

    home, run_id, _ = tiny_run
    there = lake_url(tmp_path)
    assert run_cli(capsys, "store", "copy", str(home / "phaselog.duckdb"), there, "--home", str(tmp_path))[0] == 0
    monkeypatch.setenv("PHASELOG_STORE", there)
    code, out, _ = run_cli(capsys, "report", run_id, "--home", str(home), "--out", str(tmp_path / "run-log"))
    assert code == 0 and "## How the model talks now" in (tmp_path / "run-log" / "phase-log.md").read_text()
    (phase,), = Store(home, there).query("SELECT phase FROM runs WHERE run_id = ?", [run_id])[1]
    code, _, _ = run_cli(capsys, "report", "--phase", phase, "--home", str(home), "--out", str(tmp_path / "phase-log"))
    assert code == 0 and "## Loops and bias" in (tmp_path / "phase-log" / "phase-log.md").read_text()
    assert run_cli(capsys, "journal", "add", "--run", run_id, "--step", "60", "--home", str(home),
                   "read from the lake")[0] == 0
    code, out, _ = run_cli(capsys, "journal", "list", "--home", str(home))
    assert code == 0 and "read from the lake" in out
    code, out, _ = run_cli(capsys, "sql", "select count(*) from metrics where run_id = 'tiny-run'", "--home", str(home))
    assert code == 0 and "60" in out
    client = TestClient(create_app(home))
    assert [r["run_id"] for r in client.get("/api/runs").json()] == [run_id]
    overview = client.get(f"/api/runs/{run_id}/overview").json()
    assert overview["run"]["latest_step"] == 60
    # the lake's copy was written, not the run's own file
    assert Store(home, f"duckdb:{home / 'phaselog.duckdb'}").query(
        "SELECT count(*) FROM journal WHERE text = 'read from the lake'")[1] == [(0,)]


def test_store_drain_waits_for_the_holder_then_puts_the_queued_writes_in(capsys, tmp_path):
    store = Store(tmp_path)
    store.migrate()
    with reader_holding(store.path):
        with writes_queued_when_held():  # as inside a run: the write waits on disk
            store.replace_rows("metrics", [{"run_id": "a", "step": 1, "loss": 1.5}], "run_id = ?", ["a"])
        assert "is held by" in capsys.readouterr().err and len(pending_writes(tmp_path)) == 1
        drain = subprocess.Popen([sys.executable, "-m", "phaselog.cli", "store", "drain", "--home", str(tmp_path)],
                                 cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert "wait for the process holding" in drain.stdout.readline()
    assert drain.wait(timeout=120) == 0 and "1 queued writes are in" in drain.stdout.read()
    assert not pending_writes(tmp_path)
    with duckdb.connect(str(store.path), read_only=True) as con:  # a plain client, not phaselog's queue-aware reads
        assert con.execute("SELECT run_id, step, loss FROM metrics").fetchall() == [("a", 1, 1.5)]


def test_bench_store_times_a_segment_write_that_leaves_one_row_per_step(store):
    times = time_segment_writes(store, 50)
    assert len(times) == REPEATS and all(t > 0 for t in times)
    assert store.query("SELECT count(*), count(DISTINCT step), max(step) FROM metrics")[1] == [(50, 50, 50)]


@pytest.mark.parametrize("url, message", [
    ("mysql://db/phaselog", "unknown kind 'mysql'"),
    ("ducklake:duckdb:/x/catalog.duckdb?data=/x/lake", "catalog 'duckdb' is not one phaselog knows"),
    ("ducklake:sqlite:/x/catalog.sqlite", "after '?data='"),
    ("ducklake:postgres:dbname=lake host=db?data=", "after '?data='"),
    ("ducklake:sqlite:/x/c.sqlite?data=/x/lake&inline=0", "and nothing else"),
    ("duckdb:", "duckdb:PATH"),
    ("  ", "is empty")])
def test_a_bad_store_url_is_one_sentence_naming_it(url, message):
    with pytest.raises(PhaselogError, match="^\\$PHASELOG_STORE .*" + message.replace("?", "\\?")) as caught:
        parse_store_url(url, "$PHASELOG_STORE")
    assert "\n" not in str(caught.value)


def test_store_urls_name_what_they_point_at(tmp_path):
    assert parse_store_url(str(tmp_path / "a.duckdb")) == parse_store_url(f"duckdb:{tmp_path / 'a.duckdb'}")
    lake = parse_store_url("ducklake:postgres:dbname=lake host=/run/pg?data=/shared/lake")
    assert (lake.catalog, lake.dsn, str(lake.data)) == ("postgres", "dbname=lake host=/run/pg", "/shared/lake")
