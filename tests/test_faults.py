"""What phaselog promises under faults (docs/faults.md): each case the hostile-but-fair user found in issue 18,
reproduced against the real thing (a real reader process, the real flow, a real DuckDB file)."""
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from phaselog.cli import main
from phaselog.core.config import PhaseConfig
from phaselog.core.errors import DataError, PhaselogError
from phaselog.core.pending import pending_writes
from phaselog.core.runs import (check_same_config, mark_failed, register_run, run_record, save_config_file,
                                set_status)
from phaselog.core.store import Store
from phaselog.flows.phase import phase_run
from phaselog.model.monitor import probe_batch
from phaselog.server.app import Limits
from phaselog.ui import group_alive
from tests.conftest import tiny_config_dict
from tests.processes import clean_env, explore_process
from tests.test_cli import run_cli, write_config


@contextmanager
def reader_holding(path):
    """Another process with the store open read-only (a notebook, the duckdb CLI) until the block ends."""
    script = "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); " \
             "sys.stdin.read()"
    reader = subprocess.Popen([sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        yield reader
    finally:
        reader.stdin.close()  # the reader's read() returns and the process exits, closing its connection
        reader.wait(timeout=60)


@pytest.fixture(scope="module")
def read_while_training(prefect_harness, shared_corpus, tmp_path_factory):
    """A one-segment run through the real flow while another process holds the store read-only from before the
    run starts until after it ends: (home, run id, what was seen while the reader held the store)."""
    home, run_id = tmp_path_factory.mktemp("faults") / "home", "read-while-training"
    store = Store(home)
    store.migrate()
    data = {**tiny_config_dict(shared_corpus, end_step=20), "evaluation": {"enabled": False}}  # CORE: not the point
    with reader_holding(store.path) as reader, redirect_stderr(io.StringIO()) as err:
        phase_run(config=PhaseConfig.model_validate(data), run_id=run_id, home=str(home))
        seen = {"reader_pid": reader.pid, "queued": len(pending_writes(home)), "stderr": err.getvalue(),
                "status": run_record(store, run_id)["status"]}
    assert store.drain_pending()
    return home, run_id, seen


def rows_in_the_store_file(home, run_id) -> dict:
    """Straight from the DuckDB file, not through phaselog (which would also show queued writes)."""
    with duckdb.connect(str(Store(home).path), read_only=True) as con:
        def one(sql):
            return con.execute(sql, [run_id]).fetchall()
        return {"steps": [r[0] for r in one("SELECT step FROM metrics WHERE run_id = ? ORDER BY step")],
                "status": one("SELECT status FROM runs WHERE run_id = ?"),
                "segments": one("SELECT \"index\", start_step, end_step FROM segments WHERE run_id = ?")}


def test_a_reader_holding_the_store_for_the_whole_run_does_not_stop_it(read_while_training):
    home, run_id, seen = read_while_training
    assert seen["queued"] > 0, "the results should wait on disk while the reader holds the store"
    assert f"{Store(home).path} is held by" in seen["stderr"] and f"(pid {seen['reader_pid']})" in seen["stderr"]
    assert seen["status"] == "completed"  # phaselog's readers see the queued results already
    assert not pending_writes(home)
    files = pq.read_table(home / run_id / "metrics").column("step").to_pylist()
    rows = rows_in_the_store_file(home, run_id)
    assert rows["steps"] == sorted(files) == list(range(1, 21))
    assert rows["status"] == [("completed",)] and rows["segments"] == [(0, 0, 20)]


def test_resume_refills_a_deleted_store_from_the_runs_files(capsys, read_while_training):
    """The segment is cached in Prefect, so training is skipped; its rows still come back from the files. (The
    store ends as it was, so the reader test above passes in either order.)"""
    home, run_id, _ = read_while_training
    Store(home).path.unlink()
    code, out, err = run_cli(capsys, "resume", run_id, "--home", str(home))
    assert code == 0, err
    assert f"run {run_id} is not in {Store(home).path}; recovering it from {home / run_id}" in out
    rows = rows_in_the_store_file(home, run_id)
    assert rows["steps"] == list(range(1, 21))
    assert rows["status"] == [("completed",)] and rows["segments"] == [(0, 0, 20)]


def segments_in_the_store(home: Path, run_id: str) -> int:
    try:
        return Store(home).query("SELECT count(*) FROM segments WHERE run_id = ?", [run_id])[1][0][0]
    except PhaselogError:  # no store yet
        return 0


def test_a_store_deleted_mid_run_is_made_again_and_refilled_with_one_warning(shared_corpus, tmp_path):
    """The store deleted once the first of four segments is in: the run's next write used to end it with a raw
    CatalogException and leave an empty store that blocked every later command."""
    data = tiny_config_dict(shared_corpus, end_step=40, segment_steps=10, checkpoint_every=10)
    data.update(evaluation={"enabled": False}, review={"probe": False, "data_windows": 0},
                self_play={"samples": 1, "max_new_tokens": 8})
    config, home = tmp_path / "run.yaml", tmp_path / "home"
    config.write_text(yaml.safe_dump(data))
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        run = subprocess.Popen([sys.executable, "-m", "phaselog.cli", "run", str(config), "--run-id", "lost",
                                "--home", str(home)], env=clean_env(), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 300
        while segments_in_the_store(home, "lost") < 1:
            assert run.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        Store(home).path.unlink()
        assert run.wait(timeout=600) == 0, log.read_text()[-3000:]
    finally:
        run.kill()
    text = log.read_text()
    assert "Traceback" not in text and text.count("had lost its tables") == 1, text[-3000:]
    rows = rows_in_the_store_file(home, "lost")
    assert rows["steps"] == list(range(1, 41)) and rows["status"] == [("completed",)]
    assert sorted(rows["segments"]) == [(i, 10 * i, 10 * i + 10) for i in range(4)]


def test_a_command_that_cannot_wait_for_a_reader_names_it_in_one_line(capsys, home_with_a_run):
    home, _ = home_with_a_run
    with reader_holding(Store(home).path) as reader:
        code, _, err = run_cli(capsys, "journal", "add", "--run", "r", "a note", "--home", str(home))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{Store(home).path} is held by" in err and f"(pid {reader.pid}): close that connection" in err


@pytest.mark.parametrize("damage", ["truncated", "not DuckDB"])
def test_a_damaged_store_is_one_line_and_leaves_no_snapshot_behind(capsys, monkeypatch, tmp_path, damage):
    store = Store(tmp_path)
    store.migrate()
    data = store.path.read_bytes()
    store.path.write_bytes(data[:len(data) // 2] if damage == "truncated" else b"name,loss\nx,1\n")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    for argv in (["sql", "select 1"], ["resume", "some-run"], ["journal", "list"]):
        code, _, err = run_cli(capsys, *argv, "--home", str(tmp_path))
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"{store.path} is not a readable DuckDB store" in err and "move it aside" in err
    assert list((tmp_path / "temp").iterdir()) == []


@pytest.mark.parametrize("statement", [
    "COPY (SELECT 42) TO '{store}' (FORMAT csv)", "COPY (SELECT 42) TO '{notes}' (FORMAT csv)", "INSTALL httpfs",
    "LOAD httpfs", "SET threads = 1", "CHECKPOINT", "ATTACH '{notes}.duckdb' AS other", "EXPORT DATABASE '{home}'",
    "SELECT * FROM read_csv('{notes}')", "SELECT 1; DELETE FROM runs", "PRAGMA enable_progress_bar"])
def test_sql_cannot_write_change_settings_or_reach_other_files(capsys, tmp_path, statement):
    store = Store(tmp_path)
    store.migrate()
    notes = tmp_path / "notes.csv"
    notes.write_text("a\n1\n")
    before = store.path.read_bytes()
    code, out, err = run_cli(capsys, "sql", statement.format(store=store.path, notes=notes, home=tmp_path),
                             "--home", str(tmp_path))
    assert code == 2 and err.startswith("phaselog: error: ") and len(err.strip().splitlines()) == 1, err
    assert store.path.read_bytes() == before and notes.read_text() == "a\n1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.csv", "phaselog.duckdb"]
    assert run_cli(capsys, "sql", "SELECT count(*) AS n FROM runs", "--home", str(tmp_path))[:2] == (
        0, "n\n-\n0\n(1 row)\n")


def test_a_reused_run_id_with_another_config_is_refused_and_the_run_left_as_it_was(capsys, tmp_path, shared_corpus):
    home = tmp_path / "home"
    store = Store(home)
    store.migrate()
    config = PhaseConfig.model_validate(tiny_config_dict(shared_corpus))
    register_run(store, "done-run", config, home / "done-run", "cpu", 1e12)
    save_config_file(home / "done-run", config)
    set_status(store, "done-run", "completed")
    saved = (home / "done-run" / "config.json").read_text()
    path = write_config(tmp_path, tiny_config_dict(shared_corpus))
    code, _, err = run_cli(capsys, "run", path, "--run-id", "done-run", "--set", "train.lr=0.05", "--set",
                           "train.seed=7", "--home", str(home))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "run done-run exists with another config (train.lr, train.seed differ)" in err
    assert "`phaselog resume done-run`" in err
    record = run_record(store, "done-run")
    assert record["status"] == "completed" and PhaseConfig.model_validate_json(record["config_json"]).train.lr == 0.01
    assert (home / "done-run" / "config.json").read_text() == saved
    # a run the store has lost but whose folder is on disk is refused the same way
    (home / "elsewhere").mkdir()
    save_config_file(home / "elsewhere", config)
    code, _, err = run_cli(capsys, "run", path, "--run-id", "elsewhere", "--set", "model.d_model=128", "--home",
                           str(home))
    assert code == 2 and "run elsewhere exists with another config (model.d_model differs)" in err


def test_a_run_recorded_before_a_config_field_existed_is_the_same_config(tmp_path, shared_corpus):
    """A field added since (train.optimizer, train.muon_lr) is not a change: the recorded config is read with
    today's defaults, so `phaselog run` of an older run id goes on instead of being refused."""
    home = tmp_path / "home"
    store = Store(home)
    store.migrate()
    config = PhaseConfig.model_validate(tiny_config_dict(shared_corpus))
    recorded = json.loads(config.model_dump_json())
    del recorded["train"]["optimizer"], recorded["train"]["muon_lr"]
    (home / "old-run").mkdir()
    (home / "old-run" / "config.json").write_text(json.dumps(recorded))
    check_same_config(store, "old-run", config, home / "old-run")
    with pytest.raises(PhaselogError, match=r"train\.optimizer differs"):
        check_same_config(store, "old-run", config.model_copy(update={"train": config.train.model_copy(
            update={"optimizer": "muon"})}), home / "old-run")


@pytest.fixture
def home_with_a_run(tmp_path, shared_corpus):
    """A real store with one registered (untrained) run "r" and a config file for `phaselog run`."""
    home = tmp_path / "home"
    store = Store(home)
    store.migrate()
    register_run(store, "r", PhaseConfig.model_validate(tiny_config_dict(shared_corpus)), home / "r", "cpu", 1e12)
    return home, write_config(tmp_path, tiny_config_dict(shared_corpus))


@pytest.mark.parametrize("argv, message", [
    (["run", "{config}", "--set", "name.sub=1"], "--set name.sub: name is a value, not a section"),
    (["run", "{config}", "--set", "train.lr=[1"], "--set train.lr=[1: the value is not valid YAML"),
    (["run", "{config}", "--run-id", ""], "run id '': use letters"),
    (["journal", "add", "--run", "r", "--step", "99999999999999999999", "x"], "journal --step 99999999999999999999"),
    (["report", "r", "--out", "/proc/nope"], "report --out /proc/nope: cannot create that folder"),
    (["explore", "--port", "99999"], "explore --port 99999: a TCP port is 1-65535"),
    (["ui", "--port", "0"], "ui --port 0: a TCP port is 1-65535"),
])
def test_each_bad_input_is_one_line_and_exit_2(capsys, home_with_a_run, argv, message):
    home, config = home_with_a_run
    code, _, err = run_cli(capsys, *[a.format(config=config) for a in argv], "--home", str(home))
    assert code == 2 and err.startswith(f"phaselog: error: {message}") and len(err.strip().splitlines()) == 1, err


def test_journal_text_on_stdin_that_is_not_utf8_is_one_line(capsys, monkeypatch, home_with_a_run):
    home, _ = home_with_a_run
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"notes \xff\xfe here")))
    code, _, err = run_cli(capsys, "journal", "add", "--run", "r", "-", "--home", str(home))
    assert code == 2 and err.strip() == ("phaselog: error: journal add -: standard input is not UTF-8 text (byte 6 "
                                         "is invalid); convert it first, e.g. with iconv")


def test_seq_len_longer_than_the_validation_text_names_the_setting(tiny_run):
    home, run_id, config = tiny_run
    longer = config.model_copy(update={"model": config.model.model_copy(update={"seq_len": 10_000_000})})
    with pytest.raises(DataError, match="shorter than model.seq_len 10000000 tokens .*shorten model.seq_len"):
        probe_batch(home / run_id, longer)


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (mounting one needs root; elsewhere the test skips)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_says_so_keeps_the_earlier_rows_and_the_run_can_still_be_marked(small_disk, capfd):



    store = Store(small_disk / "home")
    store.migrate()
    store.replace_rows("runs", [{"run_id": "r", "status": "running"}], "run_id = ?", ["r"])
    store.replace_rows("metrics", pa.table({"run_id": ["r"] * 10, "step": list(range(1, 11))}), "run_id = ?", ["r"])
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"x" * free)
    later = pa.table({"run_id": ["r"] * 2000, "step": list(range(11, 2011))})
    with pytest.raises(PhaselogError, match=f"could not write the store {store.path}: .*No space left on device"):
        store.replace_rows("metrics", later, "run_id = ? AND step > 10", ["r"])
    mark_failed(store, "r")  # the disk is still full: a warning, and the error above stays the one that counts
    assert "run r is not marked failed in the store: could not write the store" in capfd.readouterr().err
    (small_disk / "filler").unlink()
    assert store.query("SELECT count(*), max(step) FROM metrics")[1] == [(10, 10)]
    set_status(store, "r", "failed")
    assert store.query("SELECT status FROM runs")[1] == [("failed",)]


@pytest.fixture(scope="module")
def explore_url(tiny_run, tmp_path_factory):
    """A real `phaselog explore` (uvicorn) on a copy of the tiny run, loopback, no token, 2 chats a minute."""


    source, run_id, _ = tiny_run
    home = tmp_path_factory.mktemp("explore-limits") / "home"
    shutil.copytree(source, home)
    with explore_process(home, run_id, "--chats-per-minute", "2") as url:
        yield url, run_id


def status_of(url: str, method: str = "GET", path: str = "/api/config", body: bytes | None = None, **headers) -> int:
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=60)
    connection.request(method, path, body=body, headers=headers)
    return connection.getresponse().status


def test_a_chunked_upload_over_the_limit_is_refused_before_the_server_reads_it_all(explore_url):
    """The body has no Content-Length, and the upload is never finished: a server that read it all before
    answering would wait here forever; this one answers 413 once the bytes pass the limit."""
    url, run_id = explore_url
    chunk = b"x" * 65536
    with socket.create_connection(urlsplit(url).netloc.split(":"), timeout=60) as sock:
        sock.sendall(f"POST /api/runs/{run_id}/journal HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                     "\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        for _ in range(Limits().max_body_bytes // len(chunk) + 1):
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        detail = json.loads(response.read())["detail"]
    assert response.status == 413 and f"limit of {Limits().max_body_bytes:,} bytes" in detail


def test_a_forwarded_for_header_does_not_reset_the_chat_rate_limit(explore_url):
    url, run_id = explore_url
    codes = [status_of(url, "POST", f"/api/runs/{run_id}/chat", b'{"prompt": "hi", "max_new_tokens": 2}',
                       **{"Content-Type": "application/json", "X-Forwarded-For": f"10.0.0.{n}"}) for n in range(3)]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize("host, status", [("localhost", 200), ("127.0.0.1", 200), ("rebound.example.com", 400)])
def test_without_a_token_only_loopback_host_names_are_served(explore_url, host, status):
    url, _ = explore_url
    port = url.rsplit(":", 1)[1]
    assert status_of(url, Host=f"{host}:{port}") == status


def command_of(pid: int) -> str:
    """A live process's command line, from /proc; "" once it has ended (a zombie's is empty too)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def child_processes(pid: int) -> dict[int, str]:
    children = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            children[int(child)] = command_of(int(child))
    return children


def long_run_past_its_first_step(corpus: Path, tmp_path: Path, run_id: str, **popen):
    """A `phaselog run` far too long to finish, once its first step is done: (the process, its log, the pids of its
    temporary Prefect server). The caller kills the process in its `finally`."""
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(corpus, end_step=1_000_000, segment_steps=1_000_000)))
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        run = subprocess.Popen([sys.executable, "-m", "phaselog.cli", "run", str(config), "--run-id", run_id,
                                "--home", str(tmp_path / "home")], env=clean_env(), stdout=out, stderr=out, **popen)
    deadline = time.monotonic() + 300
    while "first step 1 done in" not in log.read_text():
        if run.poll() is not None or time.monotonic() > deadline:
            run.kill()
            raise AssertionError(log.read_text()[-3000:])
        time.sleep(0.2)
    servers = [pid for pid, command in child_processes(run.pid).items() if "prefect.server" in command]
    assert servers, f"no temporary Prefect server among {child_processes(run.pid)}"
    return run, log, servers


def test_sigterm_after_the_first_step_marks_the_run_failed_and_stops_the_prefect_server(shared_corpus, tmp_path):
    """A run far too long to finish: its first step is on stderr as soon as it ends (the sign of life), and a
    SIGTERM then ends the command with its temporary Prefect server, which used to run on for many minutes."""
    run, log, servers = long_run_past_its_first_step(shared_corpus, tmp_path, "long")
    try:
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=120) == 128 + signal.SIGTERM
    finally:
        run.kill()
    assert "phaselog: stopped by SIGTERM; `phaselog resume long` carries on" in log.read_text()
    deadline = time.monotonic() + 60
    while any("prefect.server" in command_of(pid) for pid in servers):
        assert time.monotonic() < deadline, f"the Prefect server {servers} outlived the run"
        time.sleep(0.2)
    assert Store(tmp_path / "home").query("SELECT status FROM runs WHERE run_id = 'long'")[1] == [("failed",)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_process_group_stops_the_run_within_10_s(shared_corpus, tmp_path, signum):
    """Ctrl-C in a terminal and a batch system's stop signal the whole process group: Prefect's temporary server
    died with it, and the run retried the dead server for 141 s (SIGINT) and 200 s (SIGTERM) before it ended with
    tracebacks (issue 42). Now the run's server is outside the group and the run stops as for a signal to itself."""
    # a group of its own, as a terminal's job or a batch system's job is
    run, log, servers = long_run_past_its_first_step(shared_corpus, tmp_path, "group", start_new_session=True)
    try:
        os.killpg(run.pid, signum)
        sent = time.monotonic()
        while run.poll() is None or group_alive(run.pid) or any(command_of(pid) for pid in servers):
            assert time.monotonic() - sent < 10, log.read_text()[-3000:]
            time.sleep(0.1)
    finally:
        run.kill()
        run.wait()
    text = log.read_text()
    assert run.returncode == 128 + signum and "Traceback" not in text, text[-3000:]
    assert text.strip().splitlines()[-1] == (f"phaselog: stopped by {signal.Signals(signum).name}; `phaselog resume "
                                             "group` carries on from the last checkpoint")
    assert Store(tmp_path / "home").query("SELECT status FROM runs WHERE run_id = 'group'")[1] == [("failed",)]


def test_a_data_error_in_the_flow_ends_with_its_one_line_and_no_traceback(prefect_harness, capfd, tmp_path,
                                                                         shared_corpus):

    (tmp_path / "corpus" / "bad").mkdir(parents=True)
    (tmp_path / "corpus" / "bad" / "notes.txt").write_bytes(bytes(range(256)) * 64)  # binary, named .txt
    data = tiny_config_dict(shared_corpus)
    data["data"] = {"corpus_dir": str(tmp_path / "corpus"), "sources": [{"name": "bad", "path": "bad"}]}
    code = main(["run", write_config(tmp_path, data), "--run-id", "bad-data", "--home", str(tmp_path / "home")])
    err = capfd.readouterr().err
    assert code == 2 and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1] == (f"phaselog: error: {tmp_path / 'corpus' / 'bad' / 'notes.txt'} is a "
                                            "binary file, not text: remove it from the source or fix its extension")
