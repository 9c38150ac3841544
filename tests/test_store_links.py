"""Migration 010: data_mix's share under a name DuckDB takes bare (the old name still answers), the runs' start and
end times, and a key from every loop and bias row to the text it scanned; on an old store (backfilled) and on the
real tiny run (written by the flow)."""
from phaselog.core.store import Store
from tests.conftest import store_before


def test_a_store_from_before_010_gains_token_share_run_times_and_text_keys(tmp_path):
    store = store_before(tmp_path, 10)
    with store.writer() as con:
        con.execute("INSERT INTO runs (run_id, status, created_at, updated_at) VALUES "
                    "('done', 'completed', '2025-01-01 09:00', '2025-01-01 11:00'), "
                    "('live', 'running', '2025-01-02 09:00', '2025-01-02 09:30')")
        con.execute('INSERT INTO segments (run_id, "index", seconds, finished_at) VALUES '
                    "('done', 0, 90, '2025-01-01 10:00'), ('done', 1, 60, '2025-01-01 10:30')")
        con.execute("INSERT INTO data_mix VALUES ('done', 0, 20, 'general', 300, 0.75)")
        con.execute("INSERT INTO loop_events (run_id, step, source, item) VALUES ('done', 20, 'reflection', "
                    "'20:v1.3::1'), ('done', 20, 'data', 'general@512')")
        con.execute("INSERT INTO bias_events (run_id, step, source, item) VALUES ('done', 20, 'data', "
                    "'general@512#0'), ('done', 20, 'probe', 'gender')")
    store.migrate()

    assert store.query("SELECT round(token_share, 3) token_share, share FROM data_mix")[1] == [(0.75, 0.75)]
    times = dict((r[0], r[1:]) for r in store.query("SELECT run_id, started_at, ended_at FROM runs")[1])
    assert str(times["done"][0]) == "2025-01-01 09:58:30"  # the first segment's finish less its 90 s
    assert str(times["done"][1]) == "2025-01-01 11:00:00" and times["live"] == (None, None)
    assert sorted(store.query("SELECT text_key FROM loop_events")[1]) == [("20:v1.3::1",), ("general@512",)]
    assert sorted(store.query("SELECT source, text_key FROM bias_events")[1]) == [("data", "general@512"),
                                                                                  ("probe", None)]


def test_the_tiny_runs_rows_name_their_times_and_the_texts_they_scanned(tiny_run):
    home, run_id, _ = tiny_run
    store = Store(home)
    started, ended, created, trained = store.query(
        "SELECT started_at, ended_at, created_at, (SELECT sum(seconds) FROM segments WHERE run_id = r.run_id) "
        "FROM runs r WHERE run_id = ?", [run_id])[1][0]
    assert created <= started < ended and (ended - started).total_seconds() >= trained
    assert store.query("SELECT count(*) FROM data_mix WHERE run_id = ? AND token_share IS DISTINCT FROM share",
                       [run_id])[1] == [(0,)]
    # every reflection was scanned once, and its loop row leads back to its text
    (reflections, scanned, same_text), = store.query(
        "SELECT (SELECT count(*) FROM reflections WHERE run_id = ?), count(*), count(*) FILTER (t.text = r.text) "
        "FROM loop_events l JOIN scanned_texts t USING (run_id, text_key) JOIN reflections r ON r.run_id = t.run_id "
        "AND r.step = t.step AND concat_ws(':', r.step, r.prompt_version, r.framing, r.sample_index) = t.text_key "
        "WHERE l.run_id = ? AND l.source = 'reflection'", [run_id, run_id])[1]
    assert reflections > 0 and scanned == reflections == same_text
    assert store.query("SELECT count(*) FROM loop_events WHERE run_id = ? AND text_key IS NULL", [run_id])[1] == [(0,)]
    assert store.query("SELECT count(*) FROM bias_events WHERE run_id = ? AND source <> 'probe' AND "
                       "split_part(item, '#', 1) IS DISTINCT FROM text_key", [run_id])[1] == [(0,)]
