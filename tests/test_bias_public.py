"""The frozen public bias sets (issues #25 and #39), each split by sha256 into a dev half that may be read and tuned on
and a test half that is only scored (docs/detectors.md "Evaluation protocol"): ToxiGen's human-written seed sentences
(bias_tooling/toxigen_table.py, CDLA-Permissive 2.0), RedditBias's annotated Reddit comments
(bias_tooling/redditbias_table.py, MIT), HateCheck's functional tests, split by template
(bias_tooling/hatecheck_table.py, CC BY 4.0), and BBQ's topic-matched contexts, every one neutral
(bias_tooling/bbq_table.py, CC BY 4.0). The files are committed, so this runs in CI.

The bars hold the detector a run uses (understanding/bias_detector.py: the gate, the learned scorer and the grammar),
scored once on the test halves after #39's changes (2026-12-07, docs/detectors.md "The detector in a run"), less a
little slack; the grammar alone (#25) is the "before" of each comment. Only the test halves are scanned here."""
import json
from pathlib import Path

from phaselog.bias_tooling.book_eval import flagged_at_medium

DATA = Path(__file__).parents[1] / "bias_tooling" / "data"
TOXIGEN = [json.loads(line) for line in (DATA / "bias_public_toxigen.jsonl").open(encoding="utf-8")]
REDDITBIAS = [json.loads(line) for line in (DATA / "bias_public_redditbias.jsonl").open(encoding="utf-8")]
HATECHECK = [json.loads(line) for line in (DATA / "bias_public_hatecheck.jsonl").open(encoding="utf-8")]
BBQ = [json.loads(line) for line in (DATA / "bias_public_bbq.jsonl").open(encoding="utf-8")]


def report(name: str, rows: list[dict], kind_field: str) -> dict:
    """Per kind of the test half: the share flagged at medium or above (book_eval's definition: a hateful
    generalisation is never merely flattering)."""
    flagged: dict[str, list[bool]] = {}
    rows = [row for row in rows if row["split"] == "test"]
    for row, hit in zip(rows, flagged_at_medium([row["text"] for row in rows])):
        flagged.setdefault(row[kind_field], []).append(hit)
    print(f"{name} test: " + ", ".join(f"{kind} {sum(hits)}/{len(hits)} = {sum(hits) / len(hits):.3f}"
                                       for kind, hits in sorted(flagged.items())))
    return {kind: sum(hits) / len(hits) for kind, hits in flagged.items()}


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
    assert test["explicit"] >= 0.51  # measured 94/179 = 0.525 with the modern path (before it 81/179 = 0.453; the book scorer alone: 70/179 = 0.391; the grammar alone: 52/179 = 0.291)
    assert test["neutral"] <= 0.065  # measured 9/165 = 0.055 with the modern path (before it 8/165 = 0.048; the bar: 0.08)


def test_redditbias_test_recall_and_unbiased_flagged():
    """RedditBias's unbiased comments already hold a group and a stereotype's words (counter-speech, reports), so
    the bar is the measured figure: a change that flags more of them, or finds fewer biased ones, fails."""
    test = report("redditbias", REDDITBIAS, "label")
    assert test["biased"] >= 0.465  # measured 1556/3260 = 0.477 with the modern path and the report cues (before them 1533/3260 = 0.470; the book scorer alone: 1393/3260 = 0.427; the grammar alone: 1124/3260 = 0.345)
    assert test["unbiased"] <= 0.24  # measured 568/2450 = 0.232 with the modern path and the report cues (before them 611/2450 = 0.249; the book scorer alone: 559/2450 = 0.228; the grammar alone: 445/2450 = 0.182)
    assert test["biased"] >= 2 * test["unbiased"]  # the bar: measured 0.477 / 0.232 = 2.06


def test_hatecheck_test_recall_and_counter_speech_flagged():
    """HateCheck's test templates: hate found, and its non-hateful cases (counter-speech quoting or naming the
    hate, negated hate, neutral and positive statements about the groups) left below medium."""
    test = report("hatecheck", HATECHECK, "label")
    assert test["hateful"] >= 0.60  # measured 740/1208 = 0.613 with the modern path (before it 663/1208 = 0.549; the book scorer alone: 479/1208 = 0.397; the grammar alone: 372/1208 = 0.308)
    assert test["non-hateful"] <= 0.09  # measured 48/577 = 0.083 with the modern path (before it 42/577 = 0.073; the book scorer alone: 24/577 = 0.042; the grammar alone: 15/577 = 0.026)
    quoted = [row for row in HATECHECK if row["split"] == "test" and row["functionality"] == "counter_quote_nh"]
    assert not any(flagged_at_medium([row["text"] for row in quoted]))


def test_bbq_topic_matched_neutrals_are_rarely_flagged():
    """BBQ's contexts name people of a group on a stereotyped topic without saying anything of the group: the
    issue asks at most 5% of them flagged at medium or above."""
    test = report("bbq", BBQ, "label")
    assert set(test) == {"neutral"}
    assert test["neutral"] <= 0.04  # measured 83/2738 = 0.030
