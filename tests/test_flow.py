"""The real phase flow on a tiny real run (the shared `tiny_run` fixture), and rerunning it."""
from phaselog.core.store import Store
from phaselog.flows.phase import phase_run
from phaselog.model.checkpoint import checkpoint_path


def query(home, sql):
    return Store(home).query(sql)[1]


def test_flow_trains_every_segment_and_stores_one_metric_row_per_step(tiny_run):
    home, run_id, config = tiny_run
    assert query(home, "select status from runs") == [("completed",)]
    segments = query(home, 'select "index", start_step, end_step, status from segments order by 1')
    assert segments == [(0, 0, 20, "completed"), (1, 20, 40, "completed"), (2, 40, 60, "completed")]
    assert query(home, "select count(*), count(distinct step), min(step), max(step) from metrics") == [(60, 60, 1, 60)]


def test_loss_falls_and_val_bpb_is_recorded_at_every_segment_end(tiny_run):
    home, run_id, _ = tiny_run
    first, last = query(home, "select (select avg(loss) from metrics where step <= 5), "
                              "(select avg(loss) from metrics where step > 55)")[0]
    assert last < first - 1.0
    bpb = query(home, "select step, value from evals where name = 'val_bpb' order by step")
    assert [step for step, _ in bpb] == [20, 40, 60]
    assert all(0 < value < 10 for _, value in bpb)
    assert query(home, "select count(*) from evals where name = 'val_bpb/philosophy'") == [(3,)]


def test_philosophy_joins_the_mix_at_its_start_step(tiny_run):
    home, _, _ = tiny_run
    mix = dict(((start, source), share) for start, source, share in
               query(home, "select segment_start, source, share from data_mix"))
    assert ("philosophy" not in {s for (start, s) in mix if start == 0}) or mix[(0, "philosophy")] == 0
    # weight 0.5 against 1.0: a third of the tokens, give or take the sampling of 8 x 20 rows
    assert 0.2 < mix[(20, "philosophy")] < 0.5


def test_every_document_is_accounted_for(tiny_run):
    home, _, _ = tiny_run
    rows = query(home, "select source, kept, split, count(*) from documents group by all order by all")
    splits = {(source, split) for source, kept, split, _ in rows if kept}
    assert splits == {("general", "train"), ("general", "val"), ("philosophy", "train"), ("philosophy", "val")}


def test_rerunning_a_finished_run_redoes_no_segment(tiny_run):
    home, run_id, config = tiny_run
    before = query(home, 'select "index", finished_at, trained_steps from segments order by 1')
    phase_run(config=config, run_id=run_id, home=str(home))
    after = query(home, 'select "index", finished_at, trained_steps from segments order by 1')
    # cached segment tasks do not run again, so their rows are untouched
    assert after == before
    assert query(home, "select count(*) from metrics") == [(60,)]


def test_a_phase_continues_another_runs_checkpoint_with_global_steps(tiny_run, tmp_path):
    home, run_id, config = tiny_run
    # a home of its own, so the shared tiny run's home keeps exactly one run for the tests that read it
    other = tmp_path / "home"
    raw = config.model_dump()
    raw["train"].update(start_step=60, end_step=80, init_from=str(checkpoint_path(home / run_id / "checkpoints", 60)))
    next_phase = type(config).model_validate(raw)
    phase_run(config=next_phase, run_id="tiny-phase2", home=str(other))
    steps = query(other, "select min(step), max(step) from metrics where run_id = 'tiny-phase2'")
    assert steps == [(61, 80)]
    # it starts where phase 1 ended, not from a fresh model at ln(vocab)
    first = query(other, "select loss from metrics where run_id = 'tiny-phase2' and step = 61")[0][0]
    fresh = query(home, f"select loss from metrics where run_id = '{run_id}' and step = 1")[0][0]
    assert first < fresh - 1.0
    assert (other / "tiny-phase2" / "tokenizer" / "tokenizer.json").read_text() == \
        (home / run_id / "tokenizer" / "tokenizer.json").read_text()
