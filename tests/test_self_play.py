import json

import numpy as np
import pytest

from phaselog.core.store import Store
from phaselog.model.prompts import load_prompt
from phaselog.model.uptake import log_ratios
from phaselog.understanding.selfplay import reflect
from phaselog.understanding.signatures import corpus_uptake, distinctive_z, formatting_score, motif_consistent, motifs


def test_tiny_run_has_reflections_at_every_segment_end(tiny_run):
    home, run_id, config = tiny_run
    store = Store(home)
    _, rows = store.query(
        "SELECT r.step, count(*), min(r.prompt_version), bool_and(r.train_loss = m.loss), min(r.prompt_text), "
        "bool_and(r.token_count > 0), bool_and(r.seq_rep_4 BETWEEN 0 AND 1) "
        "FROM reflections r JOIN metrics m USING (run_id, step) WHERE run_id = ? GROUP BY r.step ORDER BY r.step",
        [run_id])
    assert [r[0] for r in rows] == [end for _, end in config.segments()]
    for step, n, version, loss_matches, prompt_text, has_tokens, rep_ok in rows:
        assert n == config.self_play.samples and version == config.self_play.prompt_version
        assert loss_matches and has_tokens and rep_ok
        assert prompt_text == load_prompt("reflection", version).text


def test_reflections_are_mirrored_as_model_journal_entries(tiny_run):
    home, run_id, config = tiny_run
    _, rows = Store(home).query(
        "SELECT count(*), bool_and(j.text = r.text), bool_and(list_contains(j.tags, 'reflection')) "
        "FROM journal j JOIN reflections r ON j.id = r.run_id || ':' || r.step || ':' || r.prompt_version || ':' "
        "|| r.framing || ':' || r.sample_index WHERE j.run_id = ? AND j.author = 'model'", [run_id])
    assert rows[0] == (len(config.segments()) * config.self_play.samples, True, True)


def test_reflection_signatures_are_stored_per_source(tiny_run):
    home, run_id, config = tiny_run
    _, rows = Store(home).query("SELECT corpus_uptake, motifs, formatting_score FROM reflections WHERE run_id = ?",
                                [run_id])
    for uptake, found, score in rows:
        assert set(json.loads(uptake)) == {s.name for s in config.data.sources}
        assert isinstance(json.loads(found), dict) and 0 <= score <= 1


def test_same_seed_reproduces_reflections_and_framing_is_recorded(tiny_run):
    home, run_id, config = tiny_run
    first = reflect(home / run_id, config, run_id, 0, 20, None)
    assert [r["text"] for r in first] == [r["text"] for r in reflect(home / run_id, config, run_id, 0, 20, None)]
    framed_config = config.model_copy(deep=True)
    framed_config.self_play.framing_after_review = "supportive"
    framed_config.model.seq_len = 64  # the framing needs room beside the prompt
    framed = reflect(home / run_id, framed_config, run_id, 0, 20, None, after_review=True)
    assert {r["framing"] for r in framed} == {"supportive"}
    assert framed[0]["prompt_text"].startswith(load_prompt("framing", "supportive").text)


def test_formatting_channel_and_recurring_motifs():
    degraded = "the 0-0 [1] 0-0 ** 0-0 [1] ---"
    assert formatting_score(degraded) > 0.5 > formatting_score("The cat sat on the mat, quietly.")
    assert motifs(degraded) == {"0-0": 3, "[1]": 2}
    assert motif_consistent([["0-0", "[1]"], ["0-0", "[1]"], []])
    assert not motif_consistent([["0-0"], ["**"], ["[1]"]])


def test_corpus_uptake_finds_the_source_a_reflection_borrows_from():
    counts = {"general": np.array([500, 490, 10, 200]), "philosophy": np.array([10, 10, 980, 200])}
    z, ratios = distinctive_z(counts), log_ratios(counts)
    words = ["river", "house", "soul", "mind"]
    uptake = corpus_uptake([2, 2, 3, 0], z, ratios, decode=lambda ids: f" {words[ids[0]]}")
    assert {k: uptake["philosophy"][k] for k in ("share", "top", "content_tokens")} == \
        {"share": 0.5, "top": [" soul"], "content_tokens": 4}
    assert uptake["general"]["share"] == 0.25
    # the score weighs each token by how much more likely it is in the source: token 3 (both alike) adds ~0
    assert abs(ratios["philosophy"][3]) < 0.01 and uptake["philosophy"]["score"] > 0 > uptake["general"]["score"]
    assert uptake["philosophy"]["score"] == -uptake["general"]["score"]  # two sources: one's rest is the other


def test_corpus_uptake_shares_count_content_words_not_punctuation_line_breaks_or_the():
    """Issue 41's reflection: 'distinctive of philosophy' rested on '.', a line break and 'the'. Over its content
    words it leans general, and both sources' shares are stored."""
    vocab = [" the", ".", "\n", " soul", " river"]
    counts = {"general": np.array([300, 300, 300, 5, 400]), "philosophy": np.array([900, 900, 900, 400, 5])}
    z, ratios = distinctive_z(counts), log_ratios(counts)
    reflection = [0, 1, 2, 0, 1, 2, 4, 4, 3]
    uptake = corpus_uptake(reflection, z, ratios, decode=lambda ids: vocab[ids[0]])
    every_token = sum(z["philosophy"][t] > 1.96 for t in reflection) / len(reflection)
    assert every_token > 0.7  # what the old share said
    assert uptake["philosophy"]["content_tokens"] == uptake["general"]["content_tokens"] == 3
    assert uptake["philosophy"]["share"] == pytest.approx(1 / 3) and uptake["general"]["share"] == pytest.approx(2 / 3)
    assert uptake["philosophy"]["top"] == [" soul"] and uptake["general"]["top"] == [" river"]
