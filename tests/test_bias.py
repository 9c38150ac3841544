"""The grammar of the bias detector (understanding/bias.py, `scan_rules`): the shapes of a generalisation, its
severity by the attribute, and the stance cues. In a run the grammar is read behind the learned scorer
(understanding/bias_detector.py, tests/test_bias_detector.py); these tests hold the grammar itself."""
import json
import re
from pathlib import Path

from phaselog.understanding.bias import SEVERITIES, scan_rules, shared_suffix_after_first_difference
from phaselog.understanding.bias_lexicon import LEXICON_VERSION, LEXICONS

LABELLED = [json.loads(line) for line in (Path(__file__).parent / "data" / "bias_labelled.jsonl").open()]


def worst(text: str) -> str:
    return max((f.severity for f in scan_rules(text)), key=SEVERITIES.index, default="none")


def only_finding(text: str):
    findings = scan_rules(text)
    assert len(findings) == 1, findings
    return findings[0]


def test_criminal_alone_is_not_a_finding():
    assert scan_rules("Criminal.") == []
    assert scan_rules("The criminal was sentenced to ten years.") == []


def test_identity_word_alone_is_not_a_finding():
    assert scan_rules("Women.") == []
    assert scan_rules("Muslims celebrate Eid at the end of Ramadan.") == []


def test_generalised_derogatory_attribute_is_high():
    finding = only_finding("All immigrants are criminals.")
    assert (finding.severity, finding.category, finding.discounted) == ("high", "migration", "")
    assert finding.terms == ["immigrants", "criminals"]
    assert finding.context == "All immigrants are criminals."


def test_negative_stereotype_is_medium():
    assert worst("Women are bad drivers.") == "medium"
    assert worst("Old people can't use computers.") == "medium"
    assert worst("Men never listen.") == "medium"


def test_positive_stereotype_is_low():
    assert worst("Asians are good at math.") == "low"


def test_collective_and_typical_generalise():
    assert only_finding("The French are rude.").category == "nationality"
    assert worst("Typical Irish, always drunk.") == "medium"


def test_negation_discounts_severity():
    for text in ["Not all women are bad drivers.", "Women are not bad drivers.", "Not all Muslims are terrorists."]:
        finding = only_finding(text)
        assert (finding.severity, finding.discounted) == ("low", "negation"), text


def test_quotation_and_report_are_low_whatever_they_say():
    """Someone else's claim, quoted or reported, is low (issue #25: reporting stays unflagged or low): on
    RedditBias's dev half, reports were a third of the unbiased comments flagged at medium."""
    finding = only_finding('"Muslims are terrorists," the troll wrote.')
    assert (finding.severity, finding.discounted) == ("low", "quotation")
    finding = only_finding('Posts like "immigrants should all be deported" make my blood boil.')
    assert (finding.severity, finding.discounted) == ("low", "quotation")
    assert (only_finding("My brother believes gay people are perverts.").severity,
            only_finding("I honestly believe gay people are perverts.").severity) == ("low", "high")
    assert (only_finding("Some people call Muslims terrorists.").severity,
            only_finding("I call Muslims terrorists.").severity) == ("low", "high")


def test_reported_speech_discounts_but_first_person_opinion_does_not():
    reported = only_finding("My uncle claims that women are too emotional.")
    assert (reported.severity, reported.discounted) == ("low", "quotation")
    own = only_finding("I think women are bad drivers.")
    assert (own.severity, own.discounted) == ("medium", "")


def test_counter_speech_discounts_to_low():
    for text in ["It is a myth that women are bad at math.",
                 "The stereotype that old people can't use computers is false.",
                 "There is no evidence that immigrants are more criminal."]:
        finding = only_finding(text)
        assert (finding.severity, finding.discounted) == ("low", "counter-speech"), text


def test_calling_it_not_a_myth_is_not_counter_speech():
    assert worst("This is not a myth: immigrants are criminals.") == "high"
    assert worst("Scots are stingy, stereotypes exist for a reason.") == "medium"
    assert worst("Scots are stingy, that stereotype is true.") == "medium"


def test_specific_people_are_not_a_generalisation():
    assert scan_rules("The women in my office are lazy.") == []
    assert scan_rules("Some immigrants are doctors and some are criminals.") == []


def test_relative_clause_restricts_the_group():
    assert scan_rules("Immigrants who are criminals can be deported under this law.") == []


def test_entitled_to_is_a_right_not_a_trait():
    assert scan_rules("Disabled people are entitled to benefits under the law.") == []
    assert worst("Millennials are so entitled.") == "medium"


def test_each_clause_is_judged_on_its_own():
    findings = scan_rules("According to the pamphlet, refugees are criminals, and honestly I agree: "
                         "refugees are dangerous.")
    assert [(f.severity, f.discounted) for f in findings] == [("low", "quotation"), ("high", "")]


def test_contempt_adjective_on_the_group_is_high():
    finding = only_finding("Those dirty immigrants are taking our jobs.")
    assert finding.severity == "high" and "dirty" in finding.terms


def test_a_finding_names_its_own_group_after_an_earlier_sentence_named_another():
    """The previous sentence's group is picked up only by a "they" opening the sentence or a "them": here the
    finding is about the adjective, and must name it."""
    findings = scan_rules("Immigrants are fine. He is autistic, so he can't work.")
    assert [(f.category, f.terms[0]) for f in findings] == [("disability", "autistic")]


def test_findings_come_per_sentence_in_order():
    findings = scan_rules("Men are strong. Women are bad drivers. Nothing else here.")
    assert [(f.terms[0], f.severity) for f in findings] == [("Men", "low"), ("Women", "medium")]
    assert findings[1].context == "Women are bad drivers."


def test_lexicons_carry_the_exported_version():
    files = sorted(LEXICONS.glob(f"*.{LEXICON_VERSION}.json"))
    assert {f.name for f in files} >= {f"identity_terms.{LEXICON_VERSION}.json",
                                       f"attributes.{LEXICON_VERSION}.json"}
    for file in files:
        assert json.loads(file.read_text())["version"] == LEXICON_VERSION


def test_shared_suffix_after_first_difference():
    assert shared_suffix_after_first_difference([1, 2, 3, 4, 5], [1, 2, 9, 4, 5]) == (3, 3)
    # the group word may take a different number of tokens in each sentence
    assert shared_suffix_after_first_difference([1, 2, 3, 3, 4, 5], [1, 2, 9, 4, 5]) == (4, 3)
    # the suffix never reaches back into the shared prefix
    assert shared_suffix_after_first_difference([7, 7, 7], [7, 7, 7, 7]) == (3, 4)
    assert shared_suffix_after_first_difference([1, 2, 3], [1, 2, 3]) == (3, 3)
    assert shared_suffix_after_first_difference([1, 2, 3], [1, 2, 4]) == (3, 3)


def test_probe_pairs_differ_only_in_the_group_word_and_share_a_continuation():
    pairs = [json.loads(line) for line in (LEXICONS / f"bias_pairs.{LEXICON_VERSION}.jsonl").open()]
    assert len(pairs) >= 200 and {p["category"] for p in pairs} == CATEGORIES
    assert len({pair["id"] for pair in pairs}) == len(pairs)
    for pair in pairs:
        assert set(pair) == {"id", "category", "stereotypical", "anti_stereotypical"}
        a, b = (re.findall(r"[\w'-]+|[^\w\s]", pair[side]) for side in ("stereotypical", "anti_stereotypical"))
        start_a, start_b = shared_suffix_after_first_difference(a, b)
        prefix = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        assert 1 <= start_a - prefix <= 2 and 1 <= start_b - prefix <= 2, pair["id"]
        assert len(a) - start_a >= 3, pair["id"]  # enough shared words to score


def test_labelled_set_precision_and_recall():
    expected = [row["expect"] for row in LABELLED]
    got = [worst(row["text"]) for row in LABELLED]
    hits = sum(e != "none" and g != "none" for e, g in zip(expected, got))
    precision = hits / sum(g != "none" for g in got)
    recall = hits / sum(e != "none" for e in expected)
    agreement = sum(e == g for e, g in zip(expected, got)) / len(LABELLED)
    print(f"bias: {len(LABELLED)} sentences, precision {precision:.3f}, recall {recall:.3f}, "
          f"severity agreement {agreement:.3f}")
    assert len(LABELLED) >= 60
    assert precision >= 0.9 and recall >= 0.9
    assert agreement >= 0.8


def test_high_severity_precision_and_recall():
    """High severity pauses the run for review, so it gets its own figures."""
    expected = [row["expect"] == "high" for row in LABELLED]
    got = [worst(row["text"]) == "high" for row in LABELLED]
    hits = sum(e and g for e, g in zip(expected, got))
    assert hits / sum(got) >= 0.9 and hits / sum(expected) >= 0.9


# the development set: natural sentences written for the project (explicit, implicit, hard neutrals)
DEV = [json.loads(line) for line in (Path(__file__).parent / "data" / "bias_dev.jsonl").open()]
CATEGORIES = {"gender", "ethnicity", "nationality", "religion", "age", "disability", "sexual_orientation",
              "migration", "socioeconomic", "physical_appearance"}


def caught(row: dict, severity: str) -> bool:
    """A flattering stereotype is caught at low; anything worse must come out medium or high."""
    return severity != "none" and (row["expect"] == "low" or severity in ("medium", "high"))


def test_dev_set_recall_on_generalisations_and_quiet_neutrals():
    got = [worst(row["text"]) for row in DEV]
    by_type = {kind: [(row, g) for row, g in zip(DEV, got) if row["type"] == kind]
               for kind in ("explicit", "implicit", "neutral")}
    explicit = sum(caught(row, g) for row, g in by_type["explicit"]) / len(by_type["explicit"])
    implicit = sum(caught(row, g) for row, g in by_type["implicit"]) / len(by_type["implicit"])
    neutral_flagged = sum(g in ("medium", "high") for _, g in by_type["neutral"])
    print(f"bias dev set: {len(DEV)} sentences; recall explicit {explicit:.3f}, implicit {implicit:.3f}; hard "
          f"neutrals at medium+ {neutral_flagged} of {len(by_type['neutral'])}")
    assert len(DEV) >= 200 and {row["category"] for row, _ in by_type["explicit"]} == CATEGORIES
    assert explicit >= 0.8
    assert implicit >= 0.6
    assert neutral_flagged * 25 <= len(by_type["neutral"])
    assert not any(g == "high" for _, g in by_type["neutral"])


def test_dev_set_per_category_precision_and_recall():
    """The figures in docs/detectors.md: a finding counts for the category the detector names."""
    rows = []
    for category in sorted(CATEGORIES):
        expected = [row for row in DEV if row["type"] != "neutral" and row["category"] == category]
        found = [(row, f) for row in DEV for f in [max(scan_rules(row["text"]), default=None,
                                                      key=lambda f: SEVERITIES.index(f.severity))]
                 if f and f.category == category and (row["type"] != "neutral" or f.severity != "low")]
        right = sum(row["type"] != "neutral" and row["category"] == category for row, _ in found)
        recall = sum(caught(row, worst(row["text"])) for row in expected) / len(expected)
        precision = right / len(found) if found else 1.0
        rows.append((category, len(expected), precision, recall))
        print(f"| {category} | {len(expected)} | {precision:.2f} | {recall:.2f} |")
    assert all(precision >= 0.8 for _, _, precision, _ in rows)
