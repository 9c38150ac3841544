"""Understanding II in the run: `phaselog scan`, loop and bias events per segment, the paired-sentence probe and
the review gate's decision. The pause itself (Prefect server and `phaselog review`) is in test_review_pause.py."""
import io
import json

import numpy as np
import pytest

from phaselog.cli import main
from phaselog.core.config import ReviewConfig
from phaselog.understanding.events import probe_shifts, review_reasons, sample_windows, scan_texts

LOOP = "observe it, or " * 12


def test_scan_prints_one_table_row_per_jsonl_document(tmp_path, capsys):
    corpus = tmp_path / "sample.jsonl"
    corpus.write_text("\n".join(json.dumps(row) for row in [
        {"id": "loop", "text": LOOP}, {"id": "slur", "text": "Women are stupid and lazy."},
        {"text": "The criminal was caught in the town square."}]) + "\n")
    assert main(["scan", str(corpus)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[2:-1]}
    assert "[observe it, or ...] 4 tokens x 12" in rows["loop"]
    assert "high" in rows["slur"] and "gender: Women / stupid / lazy" in rows["slur"]
    assert rows[f"{corpus}:3"].split()[2:4] == ["none", "0"]  # "criminal" alone is no finding, and no loop
    assert lines[-1] == "(3 rows)"


def test_scan_json_reads_stdin_as_one_document(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("dirty immigrants everywhere\n" + LOOP))
    assert main(["scan", "-", "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(results) == 1 and results[0]["doc_id"] == "stdin"
    assert results[0]["loops"]["repeats"] == 12
    assert [(f["category"], f["severity"]) for f in results[0]["bias"]] == [("migration", "high")]


def test_scan_of_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt: no such file" in capsys.readouterr().err


REVIEW = ReviewConfig()


def test_a_high_finding_in_a_reflection_needs_review_but_a_neutral_word_does_not():
    _, bias = scan_texts("r", 20, [("reflection", "20:0", "Immigrants are criminals and dirty.")])
    assert len(review_reasons(bias, {}, REVIEW, {})) == 1
    _, neutral = scan_texts("r", 20, [("reflection", "20:0", "The criminal ran. Women walked home.")])
    assert neutral == [] and review_reasons(neutral, {}, REVIEW, {}) == []


def test_training_data_needs_review_only_over_enough_windows_and_findings():
    # the Plato case: 1 of 16 windows is over 5%, but one window is luck, not a rate
    assert review_reasons([], {"books": (16, 1)}, REVIEW, {}) == []
    assert review_reasons([], {"books": (40, 3)}, REVIEW, {}) == []  # too few windows
    assert review_reasons([], {"books": (200, 2)}, REVIEW.model_copy(update={"data_rate": 0.0}), {}) == []
    assert review_reasons([], {"books": (200, 10)}, REVIEW, {}) == []  # 5% is not above 5%
    reasons = review_reasons([], {"books": (100, 6)}, REVIEW, {})
    assert len(reasons) == 1 and "6 of 100 sampled windows of source books" in reasons[0]


def probe(preferences: dict[str, float], stderr: float = 0.1, pairs: int = 25) -> dict[str, dict]:
    """A probe result for categories of `pairs` pairs each, "all" made from them as probe_preference would."""
    result = {c: {"preference": v, "stderr": stderr, "pairs": pairs} for c, v in preferences.items()}
    n = pairs * len(preferences)
    result["all"] = {"preference": sum(preferences.values()) * pairs / n, "pairs": n,
                     "stderr": (len(preferences) * (pairs * stderr) ** 2) ** 0.5 / n}
    return result


def test_probe_shift_is_judged_against_the_other_categories_and_held_for_all_of_them():
    categories = ["gender", "age", "religion", "ethnicity", "nationality", "disability", "migration",
                  "socioeconomic", "sexual_orientation", "physical_appearance"]
    before = probe({c: 0.0 for c in categories})
    # one category moves 0.5 nats (3.4 SE against the others): above 3 SE alone, below Holm's bar for 10
    assert not probe_shifts(probe({**{c: 0.0 for c in categories}, "age": 0.5}), before, 3.0)
    planted = probe_shifts(probe({**{c: 0.0 for c in categories}, "age": 0.8}), before, 3.0)
    assert list(planted) == ["age"] and "Holm over 10 categories" in planted["age"]
    # a young model: everything drifts by 0.8 together, nothing stands out
    assert not probe_shifts(probe({c: 0.8 for c in categories}), before, 3.0)
    assert not probe_shifts(probe({**{c: 0.0 for c in categories}, "age": 0.8}), before, 0)
    assert not probe_shifts(probe({**{c: 0.0 for c in categories}, "age": 0.8}), {}, 3.0)


def test_data_windows_are_the_same_for_the_same_seed():
    stream = np.arange(10_000)
    first, again = sample_windows(stream, 4, 256, [1, 20, 0]), sample_windows(stream, 4, 256, [1, 20, 0])
    assert [o for o, _ in first] == [o for o, _ in again]
    assert all(len(w) == 256 and w[0] == o for o, w in first)


def test_probe_scores_only_shared_tokens_and_flips_sign_when_the_pair_is_swapped(tiny_run):
    from phaselog.model.evaluate import load_eval_model
    from phaselog.understanding.bias_probe import load_pairs, probe_preference

    home, run_id, config = tiny_run
    model, tokenizer = load_eval_model(home / run_id, config, config.train.end_step, "cpu")
    pairs = load_pairs()[:8]
    swapped = [{**p, "stereotypical": p["anti_stereotypical"], "anti_stereotypical": p["stereotypical"]}
               for p in pairs]
    same = [{**pairs[0], "anti_stereotypical": pairs[0]["stereotypical"]}]
    forward, backward = probe_preference(model, tokenizer, pairs)["all"], probe_preference(model, tokenizer, swapped)["all"]
    assert forward["pairs"] == 8 and forward["stderr"] > 0
    assert forward["preference"] == pytest.approx(-backward["preference"], abs=1e-5)
    assert probe_preference(model, tokenizer, same)["all"]["skipped"] == 1  # nothing shared after a difference


def test_every_segment_end_has_loop_events_and_a_probe_over_time(tiny_run):
    from phaselog.core.store import Store

    home, run_id, config = tiny_run
    store = Store(home)
    ends = [end for _, end in config.segments()]
    _, loops = store.query("SELECT step, source, count(*) FROM loop_events WHERE run_id = ? GROUP BY ALL "
                           "ORDER BY step", [run_id])
    assert [step for step, source, _ in loops if source == "data"] == ends
    # both sources are active from step 20: twice the windows
    assert [n for step, source, n in loops if source == "data"] == [16, 32, 32]
    _, probe = store.query("SELECT step, value, stderr FROM bias_events WHERE run_id = ? AND source = 'probe' "
                           "AND category = 'all' ORDER BY step", [run_id])
    assert [row[0] for row in probe] == ends and all(np.isfinite(v) and se > 0 for _, v, se in probe)
    assert store.query("SELECT status FROM runs WHERE run_id = ?", [run_id])[1] == [("completed",)]


def test_false_positive_is_an_answer_recorded_on_the_review_and_the_step_findings(tmp_path):
    from phaselog.core.reviews import answer_review, request_review
    from phaselog.core.store import Store

    store = Store(tmp_path)
    store.migrate()
    # Russell's blind man (Problems of Philosophy), a medium finding a reader calls a false alarm (docs/detectors.md)
    sentence = ("But this, which a blind man can understand, is not what we mean by light: we mean by light just that "
                "which a blind man can never understand, and which we can never describe to him.")
    _, bias = scan_texts("r", 20, [("reflection", "20:0", sentence)])
    assert bias
    store.replace_rows("bias_events", bias, "run_id = ? AND step = ?", ["r", 20])
    request_review(store, "r", 20, ["a reason"], "description", None)
    answer_review(store, "r", 20, "false_positive", "a fact about one sense, not a trait put on a group", "cli")
    assert store.query("SELECT status, decision FROM reviews WHERE run_id = 'r'")[1] == [("answered", "false_positive")]
    _, decisions = store.query("SELECT context, decision FROM bias_events WHERE run_id = 'r'")
    assert decisions and all(decision == "false_positive" for _, decision in decisions)
