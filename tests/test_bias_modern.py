"""The modern scorer (understanding/bias_modern.py, docs/detectors.md "The modern scorer"): a second head over the
book scorer's frozen lower layers, trained on public dev halves. Its weights are the card's; it shares the lower
layers without moving the book scorer's reading; its inner held-out rows never trained it; and in the detector it
finds modern generalisations the book scorer misses while their counter-speech twins stay unflagged. The pairs are
the counterfactual table's (a public set's group and predicate, asserted and argued against), from the inner
held-out third of its dev rows. (HateCheck's quoting counter-speech pairs only slur cases, which the gate does not
pass.)"""
import hashlib
import json
from collections import defaultdict

from phaselog.bias_tooling import train_modern_scorer
from phaselog.bias_tooling.detector_figures import path_severities
from phaselog.understanding import bias_modern, bias_scorer
from phaselog.understanding.bias_detector import MODERN_PATH_CUT, scan_bias_many, worst_severity
from phaselog.understanding.bias_gate import modern_sentences, sentences_to_score
from phaselog.understanding.minilm import model_dir
from tests.test_bias_scorer import no_network  # noqa: F401 (the fixture: sockets refuse while the scan runs)

PAIRS = 40
# measured with the shipped weights (docs/detectors.md, "The modern scorer"): of the PAIRS held-out twins, the
# claims with a medium+ finding of the modern head (the book scorer or the grammar find others), and the twins
# flagged at medium+ by the whole detector
MEASURED = {"claims found by the modern head": 5, "twins flagged": 0,
            # the modern path (bias_gate.modern_sentences, cut MODERN_PATH_CUT): of the counterfactual table's dev
            # pairs whose claim the book gate drops and the modern path reads, the claims found at medium+ by it
            # and the twins flagged at medium+ (docs/detectors.md, "The modern path")
            "path pairs": 36, "path claims found": 32, "path twins flagged": 0}


def held_out_twins() -> list[tuple[str, str]]:
    """(assertion, its counter-speech twin) of one (group, predicate) in the modern register, from the
    counterfactual table's dev rows the modern head never trained on (the inner held-out third, by the pair's
    split key); PAIRS of them, the first by sha256 of the assertion, so the choice is the table's, not ours."""
    by_claim = defaultdict(dict)
    for line in (train_modern_scorer.DATA / "bias_counterfactual.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if (row["split"] == "dev" and row["register"] == "modern" and row["form"] in ("assertion", "counter_speech")
                and train_modern_scorer.held_out(train_modern_scorer.inner_key("counterfactual", row))):
            by_claim[(row["group"], row["predicate"])][row["form"]] = row["text"]
    pairs = [(forms["assertion"], forms["counter_speech"]) for forms in by_claim.values() if len(forms) == 2]
    return sorted(pairs, key=lambda pair: hashlib.sha256(pair[0].encode()).hexdigest())[:PAIRS]


def test_shipped_weights_are_the_ones_the_card_records():
    card = bias_modern.card()
    assert hashlib.sha256(bias_modern.WEIGHTS.read_bytes()).hexdigest() == card["weights_sha256"]
    assert bias_modern.WEIGHTS.stat().st_size + bias_scorer.WEIGHTS.stat().st_size <= 30 * 2**20
    assert hashlib.sha256((model_dir() / "model.safetensors").read_bytes()).hexdigest() == card["base"]["sha256"]


def test_the_book_half_of_both_heads_is_the_book_scorers_own_reading(no_network):
    texts = [text for pair in held_out_twins()[:8] for text in pair]
    both = bias_modern.load_modern().assess_both(texts)
    alone = bias_scorer.load_scorer().assess(texts)
    assert [book.endorsed for book, _ in both] == [a.endorsed for a in alone]
    assert [book.severity for book, _ in both] == [a.severity for a in alone]


def test_training_never_reads_its_held_out_rows():
    train, held = train_modern_scorer.training_data()
    assert not {row["text"] for row in train} & {row["text"] for row in held}
    assert {row["source"] for row in held} == {"toxigen", "redditbias", "hatecheck", "bbq", "books"}
    assert train_modern_scorer.data_sha256(train + held) == bias_modern.card()["data_sha256"]


def test_a_modern_generalisation_is_found_by_the_modern_head_and_its_counter_speech_twin_not(no_network):
    pairs = held_out_twins()
    findings = scan_bias_many([text for pair in pairs for text in pair])
    claims, twins = findings[0::2], findings[1::2]
    by_modern = [any(f.severity in ("medium", "high") and f.why.startswith("modern score") for f in found)
                 for found in claims]
    twins_flagged = [worst_severity(found) in ("medium", "high") for found in twins]
    print(f"{len(pairs)} held-out twins: {sum(by_modern)} claims found by the modern head, "
          f"{sum(twins_flagged)} twins flagged")
    assert len(pairs) == PAIRS
    assert sum(by_modern) >= MEASURED["claims found by the modern head"] > 0
    assert sum(twins_flagged) <= MEASURED["twins flagged"]
    assert any(found and not twin for found, twin in zip(by_modern, twins_flagged))


def test_the_modern_path_finds_a_claim_the_book_gate_drops_and_not_its_counter_speech_twin(no_network):
    """The counterfactual table's dev pairs ("Bi people are like dogs.", "It is the nature of handicapped people to
    act desperate.") whose claim the book gate does not pass: the modern head alone reads it, at MODERN_PATH_CUT."""
    by_claim = defaultdict(dict)
    for line in (train_modern_scorer.DATA / "bias_counterfactual.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if row["split"] == "dev" and row["form"] in ("assertion", "counter_speech"):
            by_claim[(row["group"], row["predicate"], row["register"])][row["form"]] = row["text"]
    pairs = [(forms["assertion"], forms["counter_speech"]) for forms in by_claim.values() if len(forms) == 2
             and not sentences_to_score(forms["assertion"]) and modern_sentences(forms["assertion"], set())]
    findings = scan_bias_many([text for pair in pairs for text in pair])
    claims, twins = findings[0::2], findings[1::2]
    # the book gate passes none of these claims: a modern finding is the path's, at its cut
    by_path = [any(f.severity in ("medium", "high") and f.why.startswith("modern score")
                   and f.why.split(" >= ")[1].startswith(f"{MODERN_PATH_CUT:.2f}") for f in found) for found in claims]
    twins_flagged = [worst_severity(found) in ("medium", "high") for found in twins]
    print(f"{len(pairs)} pairs: {sum(by_path)} claims found on the modern path, {sum(twins_flagged)} twins flagged")
    assert len(pairs) == MEASURED["path pairs"]
    assert sum(by_path) >= MEASURED["path claims found"] > 0
    assert sum(twins_flagged) <= MEASURED["path twins flagged"]


def test_the_path_sweep_gives_what_a_scan_at_each_cut_gives(no_network):
    """detector_figures --path-cuts reads every cut off two scans (the path off, and at the lowest cut): on
    ToxiGen's dev half, where the path finds explicit rows between 0.80 and 0.90 (docs/detectors.md, "The modern
    path"), each cut's worst severities are those of a scan at that cut."""
    table = train_modern_scorer.DATA / "bias_public_toxigen.jsonl"
    texts = [row["text"] for row in map(json.loads, table.open(encoding="utf-8")) if row["split"] == "dev"]
    cuts = [0.8, 0.85, 0.9]
    swept, _, _ = path_severities(texts, cuts)
    for cut in cuts:
        assert swept[cut] == [worst_severity(found) for found in scan_bias_many(texts, path_cut=cut)], cut
    assert swept[0.8] != swept[0.9]  # the cuts differ here, so the sweep is not read off one scan
