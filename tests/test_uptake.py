"""Corpus uptake on planted effects, through the real training and self-play code: a late source that dominates
the mix once it joins ends outside the null band; a source that never joins stays inside it at every step. The
stored statement is re-derived with the SQL docs/understanding.md shows."""
import pytest

import phaselog.model.train as training
from phaselog.core.config import PhaseConfig
from phaselog.core.journal import record_reflections
from phaselog.core.runs import ingest_segment, register_run
from phaselog.core.store import Store
from phaselog.datasets.prepare import prepare_data
from phaselog.reports.gather import gather
from phaselog.reports.uptake import surfaced_statements
from phaselog.understanding.selfplay import reflect
from phaselog.understanding.uptake import record_uptake
from tests.conftest import tiny_config_dict

# the queries of docs/understanding.md ("Corpus uptake"), with the run and source filled in
STATUS_SQL = """
select step, case when joined_step is null or step <= joined_step then 'not_joined'
                  when auc < 0.8 or band_high is null then 'undecidable'
                  when score > band_high then 'surfaced' else 'not_yet' end as status
from uptake where run_id = 'r' and source = 'philosophy' order by step"""
BEFORE_BAND_SQL = """
with r as (select step, json_extract(corpus_uptake, '$.philosophy.score')::double as score
           from reflections where run_id = 'r'),
     u as (select step, joined_step, reflections as n from uptake where run_id = 'r' and source = 'philosophy')
select u.step,
       avg(b.score) - 1.96 * stddev_samp(b.score) * sqrt(1 / count(*) + 1 / any_value(u.n)) as before_low,
       avg(b.score) + 1.96 * stddev_samp(b.score) * sqrt(1 / count(*) + 1 / any_value(u.n)) as before_high
from u join r b on b.step <> u.step and b.step <= u.step and (u.joined_step is null or b.step <= u.joined_step)
group by u.step order by u.step"""


def planted_run(corpus, tmp_path, philosophy: dict) -> Store:
    """60 steps in three segments with eight reflections at each end; philosophy's mix entry as given."""
    raw = tiny_config_dict(corpus)
    raw["data"]["sources"][1].update(philosophy)
    raw["model"]["seq_len"] = 64  # room for ~40-token reflections after the prompt
    raw["self_play"] = {"samples": 8}
    config = PhaseConfig.model_validate(raw)
    store = Store(tmp_path)
    store.migrate()
    run_dir = tmp_path / "r"
    prepare_data(config, run_dir)
    register_run(store, "r", config, run_dir, "cpu", 1e11)
    for index, (start, end) in enumerate(config.segments()):
        summary = training.train_segment(run_dir, config, start, end, 1e11, log=lambda *_: None)
        ingest_segment(store, "r", run_dir, index, summary, 0.0, None)
        record_reflections(store, "r", end, reflect(run_dir, config, "r", index, end, None))
        record_uptake(store, "r", run_dir, config, end)
    return store


def uptake(store: Store) -> list[dict]:
    names, rows = store.query("SELECT * FROM uptake WHERE run_id = 'r' AND source = 'philosophy' ORDER BY step")
    return [dict(zip(names, row)) for row in rows]


def test_a_late_source_that_dominates_surfaces_outside_the_null_band(shared_corpus, tmp_path):
    # philosophy joins at batch position 20 with ten times the novels' weight
    store = planted_run(shared_corpus, tmp_path, {"start_step": 20, "weight": 10.0})
    rows = uptake(store)
    assert [r["step"] for r in rows] == [20, 40, 60]
    assert rows[0]["status"] == "not_joined"  # the step-20 model has not trained on it
    last = rows[-1]
    assert last["auc"] >= 0.8 and last["before_reflections"] == 8 and last["reflections"] == 8
    assert last["score"] > last["band_high"] and last["status"] == "surfaced"
    assert last["score"] - 2 * last["score_se"] > last["band_high"]  # not by a hair
    assert store.query(STATUS_SQL)[1] == [(r["step"], r["status"]) for r in rows]
    derived = {step: (low, high) for step, low, high in store.query(BEFORE_BAND_SQL)[1]}
    for r in rows[1:]:
        assert derived[r["step"]] == pytest.approx((r["before_low"], r["before_high"]))
    # the report's sentence (TL;DR and self-play section) states it with the number and the band
    [statement] = surfaced_statements(gather(store, "r"))
    assert statement.startswith(f"philosophy (joined at step 20): uptake {last['score']:.2f}, null band ")
    assert f"{last['band_high']:.2f} from reflections before it joined" in statement
    assert statement.endswith("surfaced at step " + str(next(r["step"] for r in rows if r["status"] == "surfaced")))


def test_a_source_that_never_joins_stays_inside_the_null_band(shared_corpus, tmp_path):
    store = planted_run(shared_corpus, tmp_path, {"start_step": 1000})
    rows = uptake(store)
    assert [r["status"] for r in rows] == ["not_joined"] * 3
    for r in rows:
        assert r["band_low"] <= r["score"] <= r["band_high"], r
    # every step is judged against the others (and the held-out windows), never against itself
    assert [r["before_reflections"] for r in rows] == [0, 8, 16]
    derived = {step: (low, high) for step, low, high in store.query(BEFORE_BAND_SQL)[1]}
    assert derived[60] == pytest.approx((rows[2]["before_low"], rows[2]["before_high"]))
    [statement] = surfaced_statements(gather(store, "r"))
    assert statement.startswith("philosophy joins at step 1,000, after the last reflection (step 60)")
