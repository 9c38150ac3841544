"""The frozen public bias sets (issue #25), each split by sha256 into a dev half that may be read and tuned on and
a test half that is only scored (docs/detectors.md "Evaluation protocol"): ToxiGen's human-written seed sentences
(bias_tooling/toxigen_table.py, CDLA-Permissive 2.0), RedditBias's annotated Reddit comments
(bias_tooling/redditbias_table.py, MIT) and HateCheck's functional tests, split by template
(bias_tooling/hatecheck_table.py, CC BY 4.0). The files are committed, so this runs in CI.

These bars are the grammar's (`scan_rules`, the detector of #25): the detector a run uses since #39 (the learned
scorer behind the grammar, understanding/bias_detector.py) has been measured on the dev halves only
(docs/detectors.md, "The detector in a run"); its test-half figures are to be scored once, and this test moved to
`flagged_at_medium` with them."""
import json
from pathlib import Path

from phaselog.understanding.bias import scan_rules
from phaselog.understanding.bias_detector import worst_severity

DATA = Path(__file__).parents[1] / "bias_tooling" / "data"
TOXIGEN = [json.loads(line) for line in (DATA / "bias_public_toxigen.jsonl").open(encoding="utf-8")]
REDDITBIAS = [json.loads(line) for line in (DATA / "bias_public_redditbias.jsonl").open(encoding="utf-8")]
HATECHECK = [json.loads(line) for line in (DATA / "bias_public_hatecheck.jsonl").open(encoding="utf-8")]


def rules_flag(texts: list[str]) -> list[bool]:
    """The grammar's finding at medium or above: book_eval.flagged_at_medium's definition, without the scorer."""
    return [worst_severity(scan_rules(text)) in ("medium", "high") for text in texts]


def figures(rows: list[dict], split: str, kind_field: str) -> dict:
    """Per kind: the share flagged at medium or above (a hateful generalisation is never merely flattering)."""
    flagged: dict[str, list[bool]] = {}
    rows = [row for row in rows if row["split"] == split]
    for row, hit in zip(rows, rules_flag([row["text"] for row in rows])):
        flagged.setdefault(row[kind_field], []).append(hit)
    return {kind: (sum(hits), len(hits)) for kind, hits in flagged.items()}


def report(name: str, rows: list[dict], kind_field: str) -> dict:
    by_split = {split: figures(rows, split, kind_field) for split in ("dev", "test")}
    for split, row in by_split.items():
        print(f"{name} {split}: " + ", ".join(f"{kind} {hits}/{n} = {hits / n:.3f}"
                                             for kind, (hits, n) in sorted(row.items())))
    return {kind: hits / n for kind, (hits, n) in by_split["test"].items()}


def test_public_sets_are_the_frozen_splits():
    """The split is a function of the text alone; the sizes pin the frozen files (rebuild them only on purpose)."""
    def counts(rows, kind_field):
        kinds = sorted({r[kind_field] for r in rows})
        return {(split, kind): sum(r["split"] == split and r[kind_field] == kind for r in rows)
                for split in ("dev", "test") for kind in kinds}
    assert counts(TOXIGEN, "type") == {("dev", "explicit"): 170, ("dev", "implicit"): 31, ("dev", "neutral"): 180,
                                       ("test", "explicit"): 179, ("test", "implicit"): 44,
                                       ("test", "neutral"): 165}
    assert counts(REDDITBIAS, "label") == {("dev", "biased"): 3307, ("dev", "unbiased"): 2444,
                                           ("test", "biased"): 3260, ("test", "unbiased"): 2450}
    assert counts(HATECHECK, "label") == {("dev", "hateful"): 1355, ("dev", "non-hateful"): 588,
                                          ("test", "hateful"): 1208, ("test", "non-hateful"): 577}


def test_toxigen_test_recall_and_neutrals_flagged():
    """The figures of docs/detectors.md; the bars are the measured test figures less a little slack."""
    test = report("toxigen", TOXIGEN, "type")
    assert test["explicit"] >= 0.275  # measured 52/179 = 0.291 (see docs/detectors.md)
    assert test["neutral"] <= 0.08


def test_redditbias_test_recall_and_unbiased_flagged():
    """RedditBias's unbiased comments already hold a group and a stereotype's words (counter-speech, reports), so
    the bar is the measured figure: a change that flags more of them, or finds fewer biased ones, fails."""
    test = report("redditbias", REDDITBIAS, "label")
    assert test["biased"] >= 0.335  # measured 1124/3260 = 0.345 (see docs/detectors.md)
    assert test["unbiased"] <= 0.195  # measured 445/2450 = 0.182


def test_hatecheck_test_recall_and_counter_speech_flagged():
    """HateCheck's test templates: hate found, and its non-hateful cases (counter-speech quoting or naming the
    hate, negated hate, neutral and positive statements about the groups) left below medium."""
    test = report("hatecheck", HATECHECK, "label")
    report("hatecheck by functionality", HATECHECK, "functionality")  # docs/detectors.md's table, with -s
    assert test["hateful"] >= 0.29  # measured 372/1208 = 0.308 (see docs/detectors.md)
    assert test["non-hateful"] <= 0.04  # measured 15/577 = 0.026
    quoted = [row for row in HATECHECK if row["split"] == "test" and row["functionality"] == "counter_quote_nh"]
    assert not any(rules_flag([row["text"] for row in quoted]))
