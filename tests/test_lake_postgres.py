"""Several machines on one store: two runs of one phase, each in its own process with its own home (two workers'
flow-run processes, standing for two machines), write into one DuckLake whose catalog is a real PostgreSQL server
while `phaselog sql` and `phaselog journal add` in further processes read and write it. Migrations run once,
before the workers start; the workers only insert (and delete what they replace)."""
import io
import json
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, redirect_stderr
from pathlib import Path

import pytest
import yaml

from phaselog.core.errors import StoreUnreachable
from phaselog.core.pending import pending_writes
from phaselog.core.records import history, record_health
from phaselog.core.reviews import counterexample_starts
from phaselog.core.store import Store, writes_queued_when_held
from phaselog.local_postgres import local_postgres
from tests.conftest import REPO, tiny_config_dict
from tests.processes import clean_env, free_port, start_prefect_server
from tests.test_counterexample_source import counterexample_config, review
from tests.test_store import three_writers_write_every_segment_once

RUNS = ["worker-a", "worker-b"]
# per run: its metric rows, steps, and the segments whose metrics are in; a reader must never see half a segment
PROGRESS = ("SELECT r.run_id, count(m.step) AS rows, count(DISTINCT m.step) AS steps FROM runs r "
            "LEFT JOIN metrics m USING (run_id) GROUP BY r.run_id ORDER BY r.run_id")


# a third process reading all along: `phaselog sql` again and again (a pause between reads leaves the CPU to the
# workers), one JSON line per read with its exit code and rows, until the test says stop
READER = """
import contextlib, io, json, sys, time
from pathlib import Path
from phaselog.cli import main
while not Path(sys.argv[1]).exists():
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["sql", sys.argv[2], "--format", "json"])
    print(json.dumps({"code": code, "rows": json.loads(out.getvalue()) if code == 0 else []}), flush=True)
    time.sleep(0.5)
"""


def phaselog(*argv, env, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "phaselog.cli", *argv], cwd=REPO, env=env, **popen)


def test_two_workers_write_one_phase_into_a_postgres_lake_while_others_read_and_write(shared_corpus, tmp_path):
    config = tiny_config_dict(shared_corpus, end_step=10, segment_steps=5, checkpoint_every=5)
    # what these runs are about is the store: no CORE suite, bias probe or data scan, and short
    # reflections (the tiny run covers the rest)
    config.update(phase="shared", evaluation={"enabled": False}, review={"probe": False, "data_windows": 0},
                  understanding={"probe_every": 5},
                  self_play={"samples": 2, "max_new_tokens": 16})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    prefect, env = start_prefect_server(tmp_path)  # the work pool's server: one, as in docs/scale.md
    started = [prefect]
    try:
        # the server's folder outside pytest's tree: as root the server runs as another user, who must pass through
        # every folder above its data, and each pytest session that starts (another suite on the machine) makes
        # /tmp/pytest-of-USER private again
        with tempfile.TemporaryDirectory(prefix="phaselog-postgres-") as folder, \
                local_postgres(Path(folder)) as dsn:
            url = f"ducklake:postgres:{dsn}?data={tmp_path / 'lake'}"
            env = {**env, "PHASELOG_STORE": url}
            # once, at setup, as docs/scale.md says
            assert phaselog("store", "migrate", "--home", str(tmp_path / "setup"), env=env).wait() == 0
            workers = [phaselog("run", str(tmp_path / "config.yaml"), "--run-id", run_id, "--home",
                                str(tmp_path / run_id), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for run_id in RUNS]
            started += workers
            stop = tmp_path / "stop-reading"
            reader = subprocess.Popen([sys.executable, "-c", READER, str(stop), PROGRESS], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            started.append(reader)
            store = Store(tmp_path / "analyst", url)
            while len(store.query("SELECT run_id FROM runs")[1]) < len(RUNS):  # both registered, training
                assert all(w.poll() is None for w in workers), [w.stderr.read()[-3000:] for w in workers]
                time.sleep(0.2)
            for n, run_id in enumerate(RUNS):  # a person's note on each run while it trains, from a third host
                note = phaselog("journal", "add", "--run", run_id, "--step", "1", "--home", str(tmp_path / "analyst"),
                                f"note {n}", env=env)
                assert note.wait() == 0
            for worker in workers:
                assert worker.wait() == 0, worker.stderr.read()[-3000:]
            stop.touch()
            out, err = reader.communicate()
            reads = [json.loads(line) for line in out.splitlines()]
            # `phaselog sql` never failed while the workers wrote, and every read was a snapshot: each run's
            # metrics by whole segments of 5 steps, never a row twice
            assert reads and all(read["code"] == 0 for read in reads), err[-3000:]
            seen = [(row["rows"], row["steps"]) for read in reads for row in read["rows"]]
            assert seen and all(rows == steps and rows % 5 == 0 for rows, steps in seen), seen
            _, metrics = store.query("SELECT run_id, count(*), count(DISTINCT step), min(step), max(step) "
                                     "FROM metrics GROUP BY run_id ORDER BY run_id")
            assert metrics == [(run_id, 10, 10, 1, 10) for run_id in RUNS]
            _, runs = store.query("SELECT run_id, phase, status FROM runs ORDER BY run_id")
            assert runs == [(run_id, "shared", "completed") for run_id in RUNS]
            # 2 reflections at each of the 2 segment ends, each once, each mirrored once into the journal
            _, reflections = store.query(
                "SELECT run_id, count(*), count(DISTINCT (step, prompt_version, framing, sample_index)) "
                "FROM reflections GROUP BY run_id ORDER BY run_id")
            assert reflections == [(run_id, 4, 4) for run_id in RUNS]
            _, journal = store.query("SELECT run_id, author, count(*), count(DISTINCT id) FROM journal "
                                     "GROUP BY run_id, author ORDER BY run_id, author")
            assert journal == [row for run_id in RUNS for row in [(run_id, "human", 1, 1), (run_id, "model", 4, 4)]]
            # the probes: one row per (run, probe step, layer), a loop verdict per scanned reflection
            _, probes = store.query("SELECT run_id, count(*), count(DISTINCT step) FROM activation_stats "
                                    "GROUP BY run_id ORDER BY run_id")
            assert probes == [(run_id, 2, 2) for run_id in RUNS]
            _, loops = store.query("SELECT run_id, count(*) FROM loop_events WHERE source = 'reflection' "
                                   "GROUP BY run_id ORDER BY run_id")
            assert loops == [(run_id, 4) for run_id in RUNS]
    finally:
        for process in started:  # a failed check must not leave a worker training on
            process.kill()
            process.wait()


def test_three_writers_into_a_postgres_lake_lose_and_double_nothing(tmp_path):
    """The writers also migrate the new lake together: the catalog's advisory lock lets one make the tables."""
    with tempfile.TemporaryDirectory(prefix="phaselog-postgres-") as folder, local_postgres(Path(folder)) as dsn:
        three_writers_write_every_segment_once(tmp_path, f"ducklake:postgres:{dsn}?data={tmp_path / 'lake'}")


def wait_until(condition, run: subprocess.Popen, log: Path) -> None:
    """Poll `condition` while the run trains; a run that ended, or 10 minutes, fail the test with its log."""
    deadline = time.monotonic() + 600
    while not condition():
        assert run.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)


def test_a_postgres_outage_mid_run_costs_no_training_and_no_row(shared_corpus, tmp_path):
    """The catalog's server stops once the run's first segment is in and starts again once the run has trained the
    next segment and queued its metric rows: the run trains and analyses through the outage, puts what waited in
    once the server is back, and ends completed with every row once."""
    data = tiny_config_dict(shared_corpus, end_step=30, segment_steps=10, checkpoint_every=10)
    data.update(evaluation={"enabled": False}, review={"probe": False, "data_windows": 0},
                self_play={"samples": 1, "max_new_tokens": 8})
    config, home, log = tmp_path / "run.yaml", tmp_path / "home", tmp_path / "run.log"
    config.write_text(yaml.safe_dump(data))
    with tempfile.TemporaryDirectory(prefix="phaselog-postgres-") as folder, ExitStack() as server:
        dsn = server.enter_context(local_postgres(Path(folder)))
        url = f"ducklake:postgres:{dsn}?data={tmp_path / 'lake'}"
        store = Store(tmp_path / "reader", url)
        with open(log, "w") as out:
            run = subprocess.Popen([sys.executable, "-m", "phaselog.cli", "run", str(config), "--run-id", "outage",
                                    "--home", str(home)], cwd=REPO, env=clean_env(PHASELOG_STORE=url), stdout=out,
                                   stderr=out)
        try:
            wait_until(lambda: store.exists() and store.query("SELECT count(*) FROM segments")[1][0][0] >= 1,
                       run, log)
            server.close()  # stopped: its clients are disconnected, and no one can connect
            # the run trained the next segment without the store: its metric rows wait on disk
            wait_until(lambda: any('"table": "metrics"' in path.read_text() for path in pending_writes(home)),
                       run, log)
            # the same data folder and socket: the run's DSN reaches it again
            assert server.enter_context(local_postgres(Path(folder))) == dsn
            assert run.wait(timeout=600) == 0, log.read_text()[-3000:]
        finally:
            run.kill()
            run.wait()
        text = log.read_text()
        assert "Traceback" not in text and text.count("cannot be reached") == 1, text[-3000:]
        # a segment trained in the outage, its rows on disk
        assert "metric rows queued on disk until the store is back" in text, text[-3000:]
        assert text.count(f"the store {url} is back") == 1 and not pending_writes(home), text[-3000:]
        keys = {"metrics": "step", "segments": '"index"', "segment_analysis": "end_step", "health": "step",
                "reflections": "(step, prompt_version, framing, sample_index)", "activation_stats": "(step, layer)"}
        for table, key in keys.items():  # every row once: none lost in the outage, none put in twice
            (rows, keyed), = store.query(f"SELECT count(*), count(DISTINCT {key}) FROM {table}")[1]
            assert rows == keyed > 0, (table, rows, keyed)
        assert store.query("SELECT count(*) FROM segments")[1] == [(3,)]
        assert store.query("SELECT min(step), max(step) FROM metrics")[1] == [(1, 30)]
        assert store.query("SELECT status FROM runs")[1] == [("completed",)]
        assert (home / "outage" / "reports").is_dir()  # the phase log, written once the store was back


def test_a_refused_catalog_queues_a_runs_writes_and_a_writer_that_gives_up_names_the_whole_cause(tmp_path):
    """No server on the port: PostgreSQL's "Connection refused" passes like a reset (a catalog restarting); a
    run queues its writes at once with one warning, other writers give up after their tries naming all of it."""
    port = free_port()
    url = f"ducklake:postgres:dbname=postgres user=postgres host=127.0.0.1 port={port}?data={tmp_path / 'lake'}"
    store = Store(tmp_path, url, lake_attempts=2)
    with pytest.raises(StoreUnreachable) as given_up:
        store.execute("DELETE FROM journal WHERE run_id = 'r'")
    message = str(given_up.value)
    assert "Connection refused" in message and f"port {port}" in message and "(2 tries)" in message, message
    assert "accepting TCP/IP connections" in message, message  # the cause's last words: nothing cut off
    with writes_queued_when_held(), redirect_stderr(io.StringIO()) as err:
        for step in (1, 2):
            store.replace_rows("health", [{"run_id": "r", "step": step, "segment_start": 0, "status": "ok",
                                           "reasons": "[]", "first_flagged_step": None, "sentence": "fine"}],
                               "run_id = ? AND step = ?", ["r", step])
        # the run reads what it queued: the catalog has the rest, once it is back
        assert store.query("SELECT step FROM health ORDER BY step")[1] == [(1,), (2,)]
    assert len(pending_writes(tmp_path)) == 2 and err.getvalue().count("cannot be reached") == 1, err.getvalue()


def test_store_drain_waits_for_the_catalog_then_puts_the_queued_writes_into_the_lake(tmp_path):
    """Writes a run queued while the catalog was down, for a lake a config's `store:` named: `phaselog store
    drain` (no $PHASELOG_STORE) waits until the catalog answers, then puts them into that lake, each once."""
    home = tmp_path / "home"
    with tempfile.TemporaryDirectory(prefix="phaselog-postgres-") as folder, ExitStack() as server:
        dsn = server.enter_context(local_postgres(Path(folder)))
        store = Store(home, f"ducklake:postgres:{dsn}?data={tmp_path / 'lake'}")
        store.migrate()
        server.close()
        with writes_queued_when_held(), redirect_stderr(io.StringIO()):  # as inside a run
            for step in (1, 2):
                store.replace_rows("metrics", [{"run_id": "a", "step": step, "loss": 1.5}],
                                   "run_id = ? AND step = ?", ["a", step])
        assert len(pending_writes(home)) == 2
        env = {k: v for k, v in clean_env().items() if k != "PHASELOG_STORE"}
        drain = subprocess.Popen([sys.executable, "-m", "phaselog.cli", "store", "drain", "--home", str(home)],
                                 cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        assert "to be reachable" in drain.stdout.readline()
        assert server.enter_context(local_postgres(Path(folder))) == dsn
        assert drain.wait(timeout=120) == 0 and "2 queued writes are in" in drain.stdout.read()
        assert not pending_writes(home) and not (home / "phaselog.duckdb").exists()
        assert store.query("SELECT run_id, step, loss FROM metrics ORDER BY step")[1] == [("a", 1, 1.5), ("a", 2, 1.5)]


def test_a_runs_reads_during_an_outage_keep_its_data_mix_and_see_what_it_queued(tmp_path):
    """While the catalog is down a run reads what it queued since; the counterexample source a review added before
    the outage stays in the mix (the review is in the catalog, out of reach), and the run knows the store is away."""
    config = counterexample_config(tmp_path)
    with tempfile.TemporaryDirectory(prefix="phaselog-postgres-") as folder, ExitStack() as server:
        store = Store(tmp_path, f"ducklake:postgres:{server.enter_context(local_postgres(Path(folder)))}"
                                f"?data={tmp_path / 'lake'}")
        store.migrate()
        review(store, "r", 10, "resume_with_counterexamples")
        verdict = {"status": "healthy", "reasons": [], "first_flagged_step": None, "sentence": "fine"}
        with writes_queued_when_held(), redirect_stderr(io.StringIO()) as err:
            assert counterexample_starts(store, "r", config) == {"philosophy": 10} and not store.unreachable()
            server.close()
            record_health(store, "r", 20, 10, verdict)
            assert store.unreachable() and pending_writes(tmp_path)
            assert counterexample_starts(store, "r", config) == {"philosophy": 10}
            assert history(store, "health", ["step", "status"], "r", 0, 30) == [{"step": 20, "status": "healthy"}]
        assert err.getvalue().count("cannot be reached") == 1, err.getvalue()
