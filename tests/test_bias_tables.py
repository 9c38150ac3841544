"""The stance-contrast tables of issue #39 (bias_tooling/, docs/detectors.md "Training and evaluation tables"): each
is the frozen sha256 split of its unit, no dev row holds a test row's sentence, each has its licence beside it, and
none holds a CrowS-Pairs sentence. Reads the committed tables only (a few seconds)."""
import hashlib
from collections import Counter
from pathlib import Path

import pytest

from phaselog.bias_tooling.public_sets import licence_path, normalise, read_table, sentence_runs, split_of

DATA = Path(__file__).parents[1] / "bias_tooling" / "data"
# table -> the field whose text the frozen rule splits by (the unit that keeps a template's or a predicate's rows
# on one side)
SPLIT_BY = {"bias_public_biasasker.jsonl": "predicate", "bias_public_bbq.jsonl": "template",
            "bias_public_dixon.jsonl": "template_key", "bias_public_winoqueer.jsonl": "predicate",
            "bias_public_stereoset.jsonl": "context", "bias_public_seegull.jsonl": "text",
            "bias_counterfactual.jsonl": "split_key"}
EVERY_TABLE = sorted(DATA.glob("bias_*.jsonl"))  # ToxiGen's, RedditBias's and HateCheck's too
ROWS = {path.name: read_table(path) for path in EVERY_TABLE}
TABLES = {name: ROWS[name] for name in SPLIT_BY}
LABELS = {"endorsed", "reported", "neutral", None}
CATEGORIES = {"gender", "ethnicity", "nationality", "religion", "age", "disability", "sexual_orientation", "migration",
              "socioeconomic", "class", "physical_appearance", "other"}
SEVERITIES = {"none", "low", "medium", "high", None}


def test_every_row_is_the_frozen_split_of_its_unit():
    for name, rows in TABLES.items():
        wrong = [row["text"] for row in rows if row["split"] != split_of(row[SPLIT_BY[name]])]
        assert not wrong, f"{name}: {len(wrong)} rows off the sha256 rule, e.g. {wrong[:3]}"
        odd = [row for row in rows if row["label"] not in LABELS or row["category"] not in CATEGORIES
               or row["severity"] not in SEVERITIES or not row["text"] or not row["source"]]
        assert not odd, f"{name}: rows outside the vocabulary, e.g. {odd[:2]}"


def test_counterfactual_pairs_are_dev_training_rows_only():
    rows = TABLES["bias_counterfactual.jsonl"]
    assert {row["split"] for row in rows} == {"dev"} and {row["source"] for row in rows} == {"counterfactual"}
    label_of_form = {row["form"]: row["label"] for row in rows}
    assert label_of_form == {"assertion": "endorsed", "antonym": "endorsed", "negation": "reported",
                             "report": "reported", "counter_speech": "reported", "one_person": "neutral"}
    assert {row["register"] for row in rows} == {"modern", "period"}


def test_no_dev_row_holds_a_test_rows_sentence():
    """A sentence scored in any table's test half (the three frozen sets of #25 included) is never in a dev row of
    the tables built for #39, whole or as a run of its sentences."""
    held_out = {run for rows in ROWS.values() for row in rows if row["split"] == "test"
                for run in sentence_runs(row["text"])}
    for name, rows in TABLES.items():
        leaks = [row["text"] for row in rows if row["split"] == "dev" and sentence_runs(row["text"]) & held_out]
        assert not leaks, f"{name}: dev rows holding a test sentence, e.g. {leaks[:3]}"


@pytest.mark.parametrize("path", EVERY_TABLE, ids=lambda path: path.stem)
def test_each_table_has_its_licence_beside_it(path):
    licence = licence_path(path).read_text(encoding="utf-8")
    assert len(licence) > 500
    if "stereoset" in path.name:  # ShareAlike: the derived table keeps CC BY-SA 4.0, in a file of its own
        assert "Attribution-ShareAlike 4.0" in licence and "same licence" in licence


def test_no_crows_pairs_sentence_is_in_any_table():
    """crows_pairs_sha256.txt holds the first 16 hex digits of the sha256 of each normalised CrowS-Pairs sentence
    (bias_tooling/crows_pairs.py); no table text, nor any sentence of one, may hash into it."""
    crows = set((DATA / "crows_pairs_sha256.txt").read_text(encoding="utf-8").split())
    assert len(crows) == 3014

    def fingerprint(text: str) -> str:
        return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:16]
    found = [row["text"] for rows in ROWS.values() for row in rows
             if {fingerprint(run) for run in sentence_runs(row["text"])} & crows]
    assert not found, f"CrowS-Pairs sentences in the tables: {found[:3]}"


def test_table_sizes_are_the_built_ones():
    """Pinned, as the #25 sets are: rebuild only on purpose (docs/detectors.md says how) and update these."""
    def counts(name, field):
        return dict(Counter((row["split"], row[field]) for row in TABLES[name]))
    assert counts("bias_public_biasasker.jsonl", "form") == {("dev", "assertion"): 3116, ("dev", "antonym"): 2820,
                                                            ("test", "assertion"): 3220, ("test", "antonym"): 2921}
    assert counts("bias_public_bbq.jsonl", "context_condition") == {("dev", "ambig"): 2088, ("dev", "disambig"): 2121,
                                                                   ("test", "ambig"): 1354,
                                                                   ("test", "disambig"): 1384}
    assert counts("bias_public_dixon.jsonl", "label") == {("dev", "endorsed"): 650, ("dev", "neutral"): 1950,
                                                         ("dev", None): 100, ("test", "endorsed"): 950,
                                                         ("test", "neutral"): 1500, ("test", None): 150}
    assert counts("bias_public_winoqueer.jsonl", "hearts_label") == {
        ("dev", "stereotype"): 625, ("dev", "neutral"): 548, ("dev", "unrelated"): 514,
        ("test", "stereotype"): 459, ("test", "neutral"): 496, ("test", "unrelated"): 538}
    assert counts("bias_public_stereoset.jsonl", "stereoset_label") == {
        ("dev", "stereotype"): 8379, ("dev", "anti-stereotype"): 8419,
        ("test", "stereotype"): 8525, ("test", "anti-stereotype"): 8527}
    assert counts("bias_public_seegull.jsonl", "severity") == {
        ("dev", "low"): 2430, ("dev", "medium"): 779, ("dev", "high"): 208,
        ("test", "low"): 2375, ("test", "medium"): 785, ("test", "high"): 200}
    assert counts("bias_counterfactual.jsonl", "label") == {("dev", "endorsed"): 8376, ("dev", "reported"): 16764,
                                                           ("dev", "neutral"): 5344}
