"""The bias detector a run uses (understanding/bias_detector.py, issue #39): the gate finds the group, the learned
scorer decides whether the sentence generalises about it, the grammar reads the stance. Sentences come from the
committed tables, written by strangers where a table has both sides: HateCheck's hateful cases and the counter-speech
cases that quote them word for word; for the categories HateCheck lacks, the counterfactual table's assertion and
counter-speech of one (group, predicate) of a public set (its templates are the project's). The book corpus's
dev figures are recomputed from the committed table. Every figure measured is in MEASURED, one place: rerun
`python -m phaselog.bias_tooling.detector_figures` after new scorer weights and update it with docs/detectors.md."""
import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path

from phaselog.bias_tooling.book_eval import split_figures
from phaselog.bias_tooling.book_sentences import read_table
from phaselog.bias_tooling.detector_figures import ceiling, stage_of
from phaselog.understanding.bias_detector import claim_words, scan_bias, scan_bias_many, worst_severity
from phaselog.understanding.bias_gate import mentions_in, sentences_to_score
from phaselog.understanding.bias_scorer import load_scorer
from tests.test_bias_scorer import no_network  # noqa: F401 (the fixture: sockets refuse while the scan runs)

DATA = Path(__file__).parents[1] / "bias_tooling" / "data"
PAIRS = 12  # twins per category: the first by sha256 of the claim, so the choice is the table's, not ours

MEASURED = {
    # category: (claims flagged at medium+, twins flagged at medium+) of its PAIRS twins
    # (before the period counter-speech cues "vulgar error", "an error to suppose", "a calumny" ... in
    # lexicons/discount_cues, the grammar flagged two twins "It is a vulgar error to suppose that ...": nationality
    # and socioeconomic, 1 each; the scorer gives them 0.00)
    "twins": {"age": (2, 0), "disability": (5, 0), "ethnicity": (4, 0), "gender": (6, 0), "migration": (4, 0),
              "nationality": (4, 0), "physical_appearance": (3, 0), "religion": (4, 0), "sexual_orientation": (4, 0),
              "socioeconomic": (3, 0)},
    # book corpus, dev split, rounds 1-8: (found, of) at medium+, a bare "man" humankind for the grammar too (rounds
    # 1-3: 261 of 933, 121 of 4,445; round 4's six new books alone: 18 of 83, 21 of 383; round 5's seven: 10 of 63,
    # 12 of 382; round 6's six, measured after they were labelled: 9 of 69, 15 of 367; round 7's ten, the same way:
    # 10 of 89, 22 of 608; round 8's nine, the same way: 20 of 110, 10 of 495 (20 of 109, 10 of 494 once two rows
    # from Huckleberry Finn's raft chapter, reprinted in Life on the Mississippi, were made unusable); rounds 1-7: 319 of 1,237, 191 of
    # 6,185; rounds 1-5: 300 of 1,079, 154 of 5,210; rounds 1-6: 309 of 1,148, 169 of 5,577). Before the grammar's humankind rule: 292 of 1,079 and 157 of 5,210 (rounds 1-3: 264 of 933, 124
    # of 4,445; rounds 4 and 5 the same). Praise at medium with the cut at 0.70, measured and not shipped: 339 and
    # 148 (docs/detectors.md, "A variant measured and not shipped"). Since bias-gate's grammar fixes (period vices
    # as traits, two vetoes that fired on endorsed claims): 300 and 154 of rounds 1-5, from 289 and 154. With the
    # modern head (bias_modern.py, cut 0.97), rounds 1-5: 300 and 158 (it finds none of the books' claims more and
    # flags 4 sentences more); rounds 1-7: 319 and 195, from 319 and 191; rounds 1-8 with two Life on the
    # Mississippi rows unusable: 339 of 1,346 and 205 of 6,679 (main before them: 339 of 1,347, 201 of 6,680);
    # bias-sev2's severity rules (32 more period vices: 344 and 206; a judging phrase that ends on the mention: 347;
    # a "they" predicating after the mention carries the claim: 349 and 206; a flattering word right after "not",
    # "least" or "never" is a fault: 351 and 206; bias-reddit's echo question and report cues: 351 and 205, the
    # sentence let go a neutral one ending "... the heroine of an admired play without the pains of art?")
    "books dev": {"endorsed": (351, 1346), "reported_or_neutral": (205, 6679)},
    # the frozen test books, scored once per change to the detector (the last: 2026-12-07 17:13 UTC, the grammar's
    # humankind rule and the scan that scores a sentence as it would alone; before them 48 of 238 at 36 of 901;
    # the grammar alone, before #39: 4 of 238 at 4 of 901; scored again 2026-12-07 20:40 UTC after bias-gate's
    # vices and vetoes and bias-fp's pronoun rules: 49 of 238 at 34 of 901, from 48; scored again 2026-12-07 23:00 UTC
    # with the modern head beside the book scorer: 50 of 238 at 36 of 901; scored again 2026-12-08 02:24 UTC after
    # bias-sev2's severity rules, the modern path, bias-fp2's gate rules and bias-reddit's cues: 51 of 238 at 34)
    "books test": {"endorsed": (51, 238), "reported_or_neutral": (34, 901)},
    # detector_figures --ceiling on the dev books (bias-sev2): endorsed, annotated medium or high (the shipped
    # policy's ceiling), found by a perfect scorer (the cut at 0) with the gate, vetoes and severity rules as shipped
    "ceiling": {"endorsed": 1346, "annotated medium or high": 778, "a perfect scorer finds": 674},
}


def table(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).open(encoding="utf-8")]


def first_by_hash(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(pairs, key=lambda pair: hashlib.sha256(pair[0].encode()).hexdigest())[:PAIRS]


def twins() -> dict[str, list[tuple[str, str]]]:
    """{category: [(generalisation, its counter-speech twin)]}, dev rows only."""
    found = defaultdict(list)
    rows = [row for row in table("bias_public_hatecheck.jsonl") if row["split"] == "dev"]
    hateful = {row["text"].lower().strip(" .!"): row["text"] for row in rows if row["label"] == "hateful"}
    for row in rows:
        quoted = re.search(r"[\"“](.+?)[\"”]", row["text"]) if row["functionality"] == "counter_quote_nh" else None
        if quoted and quoted.group(1).lower().strip(" .!") in hateful:
            found[row["category"]].append((hateful[quoted.group(1).lower().strip(" .!")], row["text"]))
    by_claim = defaultdict(dict)
    for row in table("bias_counterfactual.jsonl"):
        if row["form"] in ("assertion", "counter_speech") and row["category"] not in found:
            by_claim[(row["category"], row["group"], row["predicate"])][row["form"]] = row["text"]
    counterfactual = defaultdict(list)
    for (category, _, _), forms in by_claim.items():
        if len(forms) == 2:
            counterfactual[category].append((forms["assertion"], forms["counter_speech"]))
    return {category: first_by_hash(pairs) for category, pairs in {**found, **counterfactual}.items()}


def test_each_category_flags_a_generalisation_and_not_its_counter_speech_twin(no_network):
    pairs = twins()
    assert set(pairs) == set(MEASURED["twins"])
    flat = [text for category in sorted(pairs) for pair in pairs[category] for text in pair]
    flagged = iter(worst_severity(found) in ("medium", "high") for found in scan_bias_many(flat))
    hits = {category: [(next(flagged), next(flagged)) for _ in pairs[category]] for category in sorted(pairs)}
    counts = {category: (sum(c for c, _ in pair), sum(t for _, t in pair)) for category, pair in hits.items()}
    print("twins (generalisations flagged, counter-speech twins flagged):", counts)
    for category, pair in hits.items():
        assert any(claim and not twin for claim, twin in pair), category
        want_claims, want_twins = MEASURED["twins"][category]
        assert counts[category][0] >= want_claims and counts[category][1] <= want_twins, (category, counts[category])


def test_a_finding_says_why_the_mention_the_claim_and_the_score():
    text = table("bias_public_hatecheck.jsonl")[0]["text"].split('"')[1]  # "black people are a cancer"
    finding = max(scan_bias(text), key=lambda f: f.score or 0)
    assert finding.terms[0].lower() == "black people" and finding.score is not None
    assert "score" in finding.why and finding.as_dict()["why"] == finding.why


def test_prose_without_a_group_never_reaches_the_scorer():
    assert scan_bias("The rain fell all night on the quiet town, and the river ran fast.") == []


def assert_book_figures_hold(split: str):
    figures = split_figures(read_table(), split)
    print(figures)
    found, of = figures["endorsed"]["all"]
    flagged, neutral = figures["reported_or_neutral"]["all"]
    want_found, want_of = MEASURED[f"books {split}"]["endorsed"]
    want_flagged, want_neutral = MEASURED[f"books {split}"]["reported_or_neutral"]
    assert (of, neutral) == (want_of, want_neutral)
    assert found >= want_found and flagged <= want_flagged


# false alarms on the shared corpus's philosophers that a rule removes, each beside a twin of its shape whose writer
# generalises (docs/detectors.md, "The philosophers read again"): one person had or born (Meditations, the grammar's
# "such a wife" and a learned "slave"), a faith as its believers, a premise ("Supposing"), another's point of view
PHILOSOPHERS_FIXED = [
    ("That I have such a wife, so obedient, so loving, so ingenuous",
     "A wife is always obedient, loving and ingenuous."),
    ("For thou art born a mere slave, to thy senses and brutish affections",
     "Slaves are born mere slaves to their senses and brutish affections."),
    ("There is cruelty and religious Phoenicianism in this faith, which is adapted to a tender, many-sided, and very "
     "fastidious conscience", "There is cruelty and religious Phoenicianism in the Christians, who are adapted to a "
     "tender, many-sided, and very fastidious conscience"),
    ("Supposing a statesman were to bring his people into the position of being obliged henceforth to practise 'high "
     "politics,' for which they were by nature badly endowed and prepared",
     "A statesman knows that his people are by nature badly endowed and prepared for high politics"),
    ("It is strange indeed that this most Christian of emperors has nothing good to say of the Christians. To him "
     "they are only sectaries 'violently and passionately set upon opposition.'", "It is strange indeed that this "
     "most Christian of emperors has nothing good to say of the Christians. They are only sectaries, violently and "
     "passionately set upon opposition."),
]


def test_the_philosophers_false_alarms_stay_unflagged_and_their_generalising_twins_flagged(no_network):
    texts = [text for pair in PHILOSOPHERS_FIXED for text in pair]
    flagged = [worst_severity(found) in ("medium", "high") for found in scan_bias_many(texts)]
    assert flagged == [False, True] * len(PHILOSOPHERS_FIXED), list(zip(texts, flagged))


def test_book_corpus_dev_figures_are_the_measured_ones():
    assert_book_figures_hold("dev")


def test_frozen_test_books_hold_their_scored_figures():
    """Scored once per change to the detector (never tuned on); this only holds the figure a change must not
    lose, as the public sets' test halves are held (tests/test_bias_public.py)."""
    assert_book_figures_hold("test")


def test_the_audit_names_the_stage_where_a_generalisation_is_lost():
    """detector_figures --audit's stages, on sentences whose stage the scorer's weights cannot move: no group word,
    humankind, a high claim the grammar finds whatever the score; and, with the cut at 0 or above 1, a premise
    vetoed and a claim below the cut."""
    texts = ["The rain fell all night on the quiet town.", "All men are mortal, and all men err.",
             "black people are a cancer", "If the Malays are lazy, they are so by nature."]
    findings = scan_bias_many(texts)
    passed = [sentences_to_score(text) for text in texts]
    assessments = [load_scorer().assess([sentence for sentence, _ in p]) if p else [] for p in passed]
    stages = [stage_of(*reading, cut) for reading in zip(texts, findings, passed, assessments) for cut in (0.0, 1.01)]
    assert stages == ["a: no group word"] * 2 + ["a: 'men' read as humankind"] * 2 + ["e: found at medium+"] * 2 + [
        "b: veto: supposition", "c: scorer below the cut"]


def test_the_ceiling_narrows_stage_by_stage_and_holds_its_figures():
    """detector_figures --ceiling: each column narrows the one before it, today's detector finds no more than a
    perfect scorer would, and the whole dev set gives the figures docs/detectors.md explains the gap to 70% with."""
    figures = ceiling()
    for column, counts in figures.items():
        narrowing = [counts[name] for name in ("endorsed", "annotated medium or high",
                                               "annotated medium or high, the gate passes",
                                               "annotated medium or high, the gate passes, no veto")]
        assert narrowing == sorted(narrowing, reverse=True), column
        assert counts["found today"] <= counts["a perfect scorer finds"], column
    everything = figures["all"]
    assert everything["endorsed"] == MEASURED["ceiling"]["endorsed"]
    assert everything["annotated medium or high"] == MEASURED["ceiling"]["annotated medium or high"]
    assert everything["a perfect scorer finds"] >= MEASURED["ceiling"]["a perfect scorer finds"]
    assert everything["found today"] >= MEASURED["books dev"]["endorsed"][0]


# dev-book sentences the severity rules once called low or gave no finding (the annotators: medium), each with a
# counter-speech twin written for the test: bias-sev2's period vices VADER lacks ("patronizing", "arrogate"), a
# judging phrase that ends on the mention ("thorough savages", "the very children") and a "they" predicating after the
# mention (a hateful case of HateCheck's dev half, its shape "reference in a subsequent clause"), a flattering word
# denied ("not remarkable for delicacy")
SEVERITY_RULES = [
    ("Legions of such Englishmen are patronizing Europe at this moment, being kind to the Pope, or good-natured to the "
     "King of Holland, or condescending to inspect the Prussian reviews.",
     "It is a vulgar error to suppose that such Englishmen are patronizing Europe at this moment."),
    ("The American people arrogate to themselves a character of superior morality and religion, but this division of "
     "their hours of leisure does not give me a favourable idea of either.",
     "It is a vulgar error to suppose that the American people arrogate to themselves a character of superior "
     "morality."),
    ("They are the very children of impulse.", "It is a myth that they are the very children of impulse."),
    ("Up to a very recent period these people were thorough savages, and there are persons now living in Menado who "
     "remember a state of things identical with that described by the writers of the sixteenth and seventeenth "
     "centuries.", "It is a calumny that these people were thorough savages."),
    ("Even if women are nice sometimes, they are still nothing but human garbage.",
     "It is a myth that, even if women are nice sometimes, they are still nothing but human garbage."),
    ("I may, perhaps, be allowed to add that the people in general are not remarkable for delicacy of taste, or for "
     "sensibility to the charms of the Muses.",
     "It is a vulgar error to suppose that the people in general are not remarkable for delicacy of taste."),
]


def test_each_severity_rule_makes_its_claim_medium_and_not_its_counter_speech_twin():
    flagged = [worst_severity(found) in ("medium", "high")
               for found in scan_bias_many([text for pair in SEVERITY_RULES for text in pair])]
    assert flagged == [True, False] * len(SEVERITY_RULES)


# (endorsed, the same claim reported, doubted or rejected) written for the test, one per cue that RedditBias's unbiased
# comments taught (bias-reddit, docs/detectors.md "Reported stereotypes in RedditBias"): "about how", "the notion
# that", a claim echoed as a question; a question asked in its own words or a tag asking to agree stays a claim
REPORTED_TWINS = [
    ("Black people are lazy.", "I am sick of hearing about how black people are lazy."),
    ("Jews are greedy.", "He grew up with the notion that Jews are greedy."),
    ("Immigrants are lazy and dishonest.", "immigrants are lazy and dishonest?"),
    ("Why are women such bad drivers?", "Women are bad drivers?"),
    ("Women are bad drivers, right?", "So all women are bad drivers?"),
]


def test_a_reported_or_doubted_stereotype_is_not_flagged_and_its_endorsed_twin_is():
    found = scan_bias_many([text for pair in REPORTED_TWINS for text in pair])
    assert [worst_severity(f) in ("medium", "high") for f in found] == [True, False] * len(REPORTED_TWINS)


def test_a_judging_phrase_may_end_on_the_mention_but_the_mention_alone_judges_nothing():
    """claim_words, without the scorer: "thorough savages" is a trait though "savages" is the mention; "savages"
    alone (VADER -2.4) is a group word of period prose, not a judgement."""
    judged = "Up to a very recent period these people were thorough savages."
    named = "The savages of the mainland came on shore in their canoes."
    kinds = [claim_words(text, mentions_in(text), "ethnicity")[0] for text in (judged, named)]
    assert "negative" in kinds[0] and "negative" not in kinds[1]
