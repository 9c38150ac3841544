"""The annotated book corpus of issue #39: the sentence splitter and candidate rule on real lines of the books, the
label validator, and the split by book in the committed table."""
import json
import random
from collections import defaultdict

import pytest

from phaselog.bias_tooling.book_labels import agreement, label_problems, merge, read_labels, table_problems
from phaselog.bias_tooling.book_sentences import (SOURCES, TABLE, candidates, claim_shaped, group_mentions,
                                                  paragraphs, read_table, round3_sample, split_sentences)
from phaselog.understanding.bias_gate import THEY, group_mentions as gate_mentions

# Oliver Twist (1838), ch. 2: abbreviations and dialogue in single quotes
OLIVER = ("'No'; said Mr. Bumble approvingly; 'no, you could not.  You are a\n"
          "humane woman, Mrs. Mann.'  (Here she set down the glass.)  'I shall\n"
          "take a early opportunity of mentioning it to the board, Mrs. Mann.'")
# The Malay Archipelago (1869), ch. 2
MALACCA = ("wealthiest merchants, the agriculturists of the interior, and most of\n"
           "the mechanics and labourers. The native Malays are usually fishermen and\n"
           "boatmen, and they form the main body of the police. The Portuguese of\n"
           "Malacca supply a large number of the clerks and smaller merchants.")


def test_sentences_end_at_end_marks_not_after_abbreviations():
    [paragraph] = paragraphs(OLIVER)
    assert split_sentences(paragraph) == [
        "'No'; said Mr. Bumble approvingly; 'no, you could not.",
        "You are a humane woman, Mrs. Mann.'",
        "(Here she set down the glass.)",
        "'I shall take a early opportunity of mentioning it to the board, Mrs. Mann.'"]
    assert split_sentences('"Where?" said he. "To the Moors of Tetuan, Dr. Smith." He went.') == [
        '"Where?" said he.', '"To the Moors of Tetuan, Dr. Smith."', "He went."]


def test_a_long_semicolon_sentence_is_cut_at_its_semicolons():
    clause = "the natives of the coast trade with the interior " * 3
    sentence = "; ".join([clause.strip()] * 4) + "."  # 4 clauses of 27 words: 108 words
    parts = split_sentences(sentence)
    assert len(parts) == 2 and all(len(p.split()) <= 80 for p in parts) and " ".join(parts) == sentence


def test_headings_and_contents_pages_are_not_prose():
    text = ("CHAPTER II.\n\nMALACCA AND MOUNT OPHIR.\n\n"
            "The Natives of Lombock 162\nThe Malays of Sumatra 170\nThe Dyaks 181\n\n" + MALACCA)
    assert paragraphs(text) == [" ".join(MALACCA.split())]


def test_candidates_are_the_sentences_naming_a_group_with_the_sentence_before():
    rows = candidates(MALACCA, "wallace")
    assert [r["text"] for r in rows] == [
        "wealthiest merchants, the agriculturists of the interior, and most of the mechanics and labourers.",
        "The native Malays are usually fishermen and boatmen, and they form the main body of the police.",
        "The Portuguese of Malacca supply a large number of the clerks and smaller merchants."]
    assert rows[1]["context"] == rows[0]["text"] and rows[1]["id"] == "wallace:00001"
    assert group_mentions(rows[1]["text"]) == ["The native", "Malays", "fishermen"]
    # capitalised names only: the moors of Scotland are land, the Moors of Tetuan people
    assert group_mentions("We crossed the moors and the heath at a good pace today.") == []
    assert group_mentions("the lower orders and the fair sex and the Hindoos") == [
        "the lower orders", "the fair sex", "Hindoos"]
    # Wallace's next sentence: demonyms no list holds
    assert group_mentions("The Timorese are generally great thieves, but are not bloodthirsty.") == ["Timorese", "thieves"]
    assert group_mentions("Means were found, and the Sumatrans and Canaanites came.") == ["Sumatrans", "Canaanites"]


ROW = {"id": "b:00001", "book_id": "b", "split": "dev", "context": "",
       "text": "The native Malays are usually fishermen and boatmen, and they form the main body of the police."}


def test_the_validator_names_each_wrong_field():
    good = {"id": "b:00001", "label": "neutral", "voice": "narrator", "category": "ethnicity", "severity": None,
            "group": "The native Malays", "claim": None}
    assert label_problems(good, ROW["text"]) == []
    assert label_problems({**good, "label": "endorsed"}, ROW["text"]) == [
        "severity None is not one of high, medium, low", "an endorsed sentence needs its claim span"]
    assert label_problems({**good, "category": "race", "group": "Malays are lazy"}, ROW["text"]) == [
        "category 'race' is not one of " + "gender, ethnicity, nationality, religion, age, disability, "
        "sexual_orientation, migration, socioeconomic, class, physical_appearance, other",
        "group 'Malays are lazy' is not copied from the sentence"]
    assert label_problems({"id": "b:00001", "label": "unusable"}, ROW["text"]) == []


def test_merge_takes_valid_files_whole_and_rejects_a_file_with_any_error(tmp_path):
    label = {"id": "b:00001", "label": "endorsed", "voice": "narrator", "category": "ethnicity",
             "severity": "low", "group": "native Malays", "claim": "usually fishermen and boatmen"}
    good, bad = tmp_path / "batch_01.labels.jsonl", tmp_path / "batch_02.labels.jsonl"
    good.write_text(json.dumps(label) + "\n")
    bad.write_text(json.dumps({**label, "id": "b:99999"}) + "\n")
    rows, problems = merge([ROW], [good], "ann1")
    assert problems == [] and rows[0]["label"] == "endorsed" and rows[0]["annotator"] == "ann1"
    assert table_problems(rows, complete=True) == []
    assert merge(rows, [good], "ann2")[1] == ["batch_01.labels.jsonl: b:00001: already labelled by ann1"]
    assert merge([ROW], [bad], "ann1") == ([ROW], ["batch_02.labels.jsonl: b:99999: no such sentence in "
                                                   "books.jsonl"])
    assert table_problems([ROW, ROW], complete=True) == ["b:00001: not labelled", "b:00001: in the table twice",
                                                         "b:00001: not labelled"]


def test_the_committed_table_is_split_by_book_as_the_sources_say():
    sources = {s["book_id"]: s for s in json.loads(SOURCES.read_text())["sources"]}
    rows = read_table(TABLE)
    splits = defaultdict(set)
    for row in rows:
        splits[row["book_id"]].add(row["split"])
    assert set(splits) == set(sources)
    assert all(found == {sources[book]["split"]} for book, found in splits.items()), "a book in both halves"
    assert table_problems(rows, complete=False) == []
    assert all(6 <= len(r["text"].split()) <= 80 for r in rows)
    books = [s for s in sources.values() if s["pg_number"]]
    # the split fixed before labelling (round 1's books); later rounds added dev books only
    first = [s for s in books if not s.get("round")]
    test_books = [s for s in first if s["split"] == "test"]
    assert len(first) >= 28 and 0.25 <= len(test_books) / len(first) <= 0.4
    # every kind with three or more of those books has some in each half (a later round's dev books can make a kind
    # dev-only: round 7 brought the pamphlets to four)
    kinds = defaultdict(set)
    for s in first:
        kinds[s["kind"]].add(s["split"])
    assert all(found == {"dev", "test"} for kind, found in kinds.items()
               if sum(s["kind"] == kind for s in first) >= 3)


def test_round_three_draws_dev_sentences_the_gate_passes_claim_shaped_first():
    assert claim_shaped({"text": "The Timorese are generally great thieves, but are not bloodthirsty.", "context": ""})
    # a group and a present-tense word, but no predicate after the mention
    assert not claim_shaped({"text": "It is said that in Malacca the Portuguese supply the clerks.", "context": ""})
    third = [row for row in read_table() if row.get("round") == 3]
    assert third and {row["split"] for row in third} == {"dev"}
    # drawn by the gate of their day; bias-fp's carry rules since drop 5 whose only mention was a pronoun carried
    # from the sentence before (from humankind's "men", or with its antecedent in its own sentence)
    dropped = [row for row in third if not gate_mentions(row["text"], row["context"])]
    assert len(dropped) == 5 and all(THEY.search(row["text"]) and not gate_mentions(row["text"]) for row in dropped)
    assert sum(map(claim_shaped, third)) > len(third) / 2


def test_a_rebuild_keeps_the_round_three_draw_the_table_holds():
    # the gate has changed since round 3 drew: a rebuild keeps the drawn ids instead of drawing again (a fresh
    # draw here takes all three gate-passed sentences)
    found = candidates(MALACCA, "wallace")
    assert len(round3_sample(found, [], 100, "wallace", set())) == 3
    kept = round3_sample(found, [], 100, "wallace", {"wallace:00002"})
    assert [(row["id"], row["round"]) for row in kept] == [("wallace:00002", 3)]


def test_later_rounds_books_are_new_dev_books_sampled_once_by_round_one_rule():
    later = {s["book_id"]: s for s in json.loads(SOURCES.read_text())["sources"] if s.get("round")}
    assert later and {s["split"] for s in later.values()} == {"dev"}
    rows = read_table()
    for book_id, source in later.items():
        # a book that joined later has its one sample, of its quota, all carrying the round: no deeper round 2, no
        # gate-chosen round 3
        mine = [row for row in rows if row["book_id"] == book_id]
        assert {row.get("round") for row in mine} == {source["round"]}
        # the quota is an upper bound: a cookery book names a group in 56 sentences only, and gives them all
        assert len(mine) == (56 if book_id == "randolph-virginia-housewife" else source["quota"])
    # rounds 4-8 added new books (six, seven, six, ten and nine); their rows belong to those books alone
    assert {s["round"] for s in later.values()} == {4, 5, 6, 7, 8}
    assert all(row["book_id"] in later for row in rows if row.get("round") in (4, 5, 6, 7, 8))


def test_the_table_is_labelled_whole_and_a_second_annotator_agrees_with_it():
    rows = read_table()
    assert table_problems(rows, complete=True) == []
    facets = agreement(rows, read_labels(TABLE.with_name("books.agreement.jsonl")))
    # measured 2026-12-07 on 300 sentences drawn from the first six batches (docs/detectors.md, "The labelling")
    n, observed, kappa = facets["label"]
    assert n == 300 and round(kappa, 3) == 0.906
    assert round(facets["scored generalisation"][2], 3) == 0.927


def independent_agreement(round_number: int, seed: str, file_name: str) -> dict[str, tuple[int, float, float]]:
    """The agreement of a second annotator's file with the table, after checking that the file holds the seeded
    sample docs/detectors.md names (the first 100 of the round's sorted ids shuffled with the seed), not a chosen
    subset, and that its spans are copied from the sentences."""
    rows = read_table()
    second = read_labels(TABLE.with_name(file_name))
    sample = sorted(row["id"] for row in rows if row.get("round") == round_number)
    random.Random(seed).shuffle(sample)
    assert [label["id"] for label in second] == sample[:100]
    texts = {row["id"]: row["text"] for row in rows}
    assert all(label_problems({k: v for k, v in label.items() if k != "annotator"}, texts[label["id"]]) == []
               for label in second)
    return agreement(rows, second)


# a second annotator's blind pass over each later round's seeded 100, measured 2026-12-07 (docs/detectors.md, "The
# labelling" and "Round N's agreement"): round, (second annotator, first), label kappa, scored-generalisation kappa
INDEPENDENT_AGREEMENT = [
    (3, ("ann-K", "ann-J"), 0.925, 0.864),
    # lower: the disagreements fall on the guide's open lines and the sample holds few generalisations
    (4, ("ann-M", "ann-L"), 0.726, 0.709),
    # every scored disagreement a sentence ann-O scored and ann-N did not
    (5, ("ann-O", "ann-N"), 0.806, 0.841),
    # every disagreement a sentence ann-P scored and ann-Q did not
    (6, ("ann-Q", "ann-P"), 0.918, 0.872),
    # both label disagreements sentences ann-S endorsed and ann-R did not, one of them scored
    (7, ("ann-S", "ann-R"), 0.923, 0.942),
    # one scored disagreement, a sentence ann-U endorsed and ann-T did not
    (8, ("ann-U", "ann-T"), 0.883, 0.960),
]


@pytest.mark.parametrize("round_number, annotators, label_kappa, scored_kappa", INDEPENDENT_AGREEMENT)
def test_an_independent_annotator_agrees_with_a_later_round_on_its_seeded_sample(round_number, annotators,
                                                                                 label_kappa, scored_kappa):
    facets = independent_agreement(round_number, f"39:round{round_number}-agreement",
                                   f"books.agreement.round{round_number}.jsonl")
    n, observed, kappa = facets["label"]
    assert n == 100 and round(kappa, 3) == label_kappa
    assert round(facets["scored generalisation"][2], 3) == scored_kappa
    second, first = annotators
    assert {label["annotator"] for label in read_labels(TABLE.with_name(f"books.agreement.round{round_number}.jsonl"))} \
        == {second}
    assert {row["annotator"] for row in read_table() if row.get("round") == round_number} == {first}
