"""The review's counterexample source: prepared with the others, out of the mix until a review answers
resume_with_counterexamples, then in the mix from the next segment on, derived from the reviews table alone."""
import pytest

from phaselog.core.config import config_from_dict
from phaselog.core.errors import PhaselogError
from phaselog.core.reviews import answer_review, counterexample_starts, request_review
from phaselog.core.runs import ingest_segment
from phaselog.core.store import Store
from phaselog.datasets.mixing import mix_from_config, weights_at
from phaselog.datasets.prepare import prepare_data
from phaselog.model.train import train_segment
from tests.conftest import tiny_config_dict


def counterexample_config(corpus, **train):
    raw = tiny_config_dict(corpus, **train)
    raw["data"]["sources"][1]["start_step"] = 0   # held back by the review, not by its schedule
    raw["review"] = {"counterexample_source": "philosophy"}
    return config_from_dict(raw, "test")


def review(store: Store, run_id: str, step: int, decision: str) -> None:
    request_review(store, run_id, step, ["drill"], "a drill", None)
    answer_review(store, run_id, step, decision, "", "cli")


def test_the_counterexample_source_joins_the_mix_only_after_a_resume_with_counterexamples_review(tmp_path):
    config = counterexample_config(tmp_path)
    store = Store(tmp_path)
    store.migrate()
    assert counterexample_starts(store, "r", config) == {}
    assert set(weights_at(mix_from_config(config), 100)) == {"general"}

    review(store, "r", 20, "resume")              # a plain resume leaves it out
    assert counterexample_starts(store, "r", config) == {}
    review(store, "r", 40, "resume_with_counterexamples")
    review(store, "r", 60, "resume_with_counterexamples")   # the first such answer counts
    starts = counterexample_starts(store, "r", config)
    assert starts == {"philosophy": 40}
    mix = mix_from_config(config, starts)
    # batch position 39 feeds update 40 (the reviewed segment); position 40 feeds update 41, the next segment
    assert set(weights_at(mix, 39)) == {"general"}
    assert weights_at(mix, 40) == pytest.approx({"general": 1 / 1.5, "philosophy": 0.5 / 1.5})
    assert counterexample_starts(store, "another-run", config) == {}


def test_a_counterexample_source_missing_from_data_sources_is_a_one_line_error(tmp_path):
    raw = tiny_config_dict(tmp_path)
    raw["review"] = {"counterexample_source": "rebuttals"}
    with pytest.raises(PhaselogError) as err:
        config_from_dict(raw, "configs/x.yaml")
    assert "review.counterexample_source 'rebuttals' is not a data.sources name" in str(err.value)
    assert "\n" not in str(err.value)


def test_data_mix_shows_the_counterexample_tokens_from_the_segment_after_the_review(shared_corpus, tmp_path):
    config = counterexample_config(shared_corpus, end_step=40)
    run_dir = tmp_path / "r"
    prepare_data(config, run_dir, log=lambda _: None)
    store = Store(tmp_path)
    store.migrate()
    for index, (start, end) in enumerate(config.segments()):
        # what the training task does: the mix follows the reviews recorded so far
        summary = train_segment(run_dir, config, start, end, 1e12, log=lambda _: None,
                                extra_starts=counterexample_starts(store, "r", config))
        ingest_segment(store, "r", run_dir, index, summary, 1.0, None)
        if index == 0:
            review(store, "r", end, "resume_with_counterexamples")
    _, rows = store.query("SELECT segment_start, source, tokens FROM data_mix WHERE run_id = 'r'")
    tokens = {(start, source): n for start, source, n in rows}
    assert tokens[(0, "philosophy")] == 0 and tokens[(0, "general")] > 0
    assert tokens[(20, "philosophy")] > 0
