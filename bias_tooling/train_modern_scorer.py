"""Train the modern scorer (understanding/bias_modern.py) from public dev halves only, pick its epoch and threshold
on their inner held-out rows, and write its weights and card to understanding/lexicons/.

    python -m phaselog.bias_tooling.train_modern_scorer

Data, dev halves only (split == "test" rows are never read; CrowS-Pairs never):
- ToxiGen (hate 1, neutral 0; counted thrice, it is small), RedditBias (biased 1, unbiased 0), HateCheck (hateful
  1, non-hateful 0: counter-speech, quotation, negation are the contrast), BBQ contexts (0: specific people on
  stereotyped topics), the counterfactual pairs (asserted 1, denied / reported / argued against / said of one
  person 0), BiasAsker and Dixon rows, and the dev books the book scorer trains on (so that period prose keeps
  its contrast here too);
- the INNER split, fixed before any scoring: a row is held out when the first byte of sha256("modern-inner:" +
  its key) is below INNER_BELOW (a third); the key is the row's template where the table has one (HateCheck's
  case with its target blanked, BBQ's template, the counterfactual pair's split key, Dixon's frame, BiasAsker's
  predicate), so one template is on one side; else its text. The held-out books are the book scorer's validation
  books. Held-out rows only choose the epoch and the threshold.

The training itself is the book scorer's (train_scorer.py): layers 0-3 frozen and computed once, layers 4-5 and a
head tuned, one thread, deterministic, one seed. The raw threshold is the lowest that flags at most MAX_FLAGGED of each
held-out negative set (ToxiGen's neutrals, BBQ's contexts, the validation books' reported or neutral rows); the
epoch kept is the one whose held-out ToxiGen hate recall plus RedditBias separation (biased minus unbiased share
flagged) is highest at its threshold. The detector's cut (the card's threshold) is DETECTOR_CUT, higher: see there.
"""
import hashlib
import json
import time
from collections import Counter

import torch

from phaselog.bias_tooling.public_sets import normalise
from phaselog.bias_tooling.train_scorer import (BATCH, DATA, FIRST_TUNED, HEAD_LR, LAYER_LR, SEED, batches, book_rows,
                                                card_head, data_sha256, is_validation, optimiser_step, padded,
                                                public_severity, row, seeded_start)
from phaselog.understanding.bias_modern import CARD, MODERN_VERSION, WEIGHTS, ModernScorer
from phaselog.understanding.bias_scorer import SEVERITIES
from phaselog.understanding.minilm import checkpoint_state, read_safetensors, write_safetensors

INNER_BELOW = 0x56  # first byte of sha256("modern-inner:" + key): about a third of each table held out
# rows taken from each table's inner-train part (those whose sha256(seed:text) sorts first), None for all: sized so
# that training ends in about 40 minutes on one loaded thread
QUOTAS = {"toxigen": None, "hatecheck": None, "redditbias": 1800, "bbq": 600, "counterfactual": 1200,
          "biasasker": 300, "dixon": 300, "books": 1500}
HELD_OUT_QUOTAS = {"redditbias": 900, "bbq": 400}  # enough to measure, few enough to score each epoch cheaply
WEIGHT = {"toxigen": 3.0}  # ToxiGen is the bar and the smallest table
# severity where the table has none: hate is high, a Reddit stereotype medium (learned_severity reads these)
SEVERITY = {"toxigen": "medium", "hatecheck": "high", "redditbias": "medium"}
EPOCHS = 3
MAX_FLAGGED = {"toxigen": 0.05, "bbq": 0.03, "books": 0.02}
# the cut the detector uses (the card's threshold): the raw threshold above is the head's alone, but in the detector
# its findings come on top of the grammar's and the book scorer's, and pass the gate and severity rules. Picked with
# `detector_figures --modern-cuts` on the rows the head never trained on (2026-12-07, docs/detectors.md "The modern
# scorer"): the lowest cut, in steps of 0.01 from the raw threshold, at which the validation books' reported or
# neutral sentences flagged rise by at most one of 751 (the budget of 10 of the dev books' 5,210, pro rata) and
# ToxiGen's held-out neutrals stay <= 5%
DETECTOR_CUT = 0.97


def label_of(source: str, table_row: dict) -> int | None:
    """1 endorsed or hateful, 0 not, None where the table's label says neither."""
    return {"toxigen": {"hate": 1, "neutral": 0}, "redditbias": {"biased": 1, "unbiased": 0},
            "hatecheck": {"hateful": 1, "non-hateful": 0}}.get(
        source, {"endorsed": 1, "reported": 0, "neutral": 0}).get(table_row.get("label"))


def inner_key(source: str, table_row: dict) -> str:
    """What the inner split is fixed by: one template, frame or predicate on one side."""
    if source == "hatecheck":
        return table_row["text"].lower().replace(table_row["target"].lower(), "[target]")
    field = {"bbq": "template", "counterfactual": "split_key", "dixon": "template_key", "biasasker": "predicate"}
    return table_row.get(field.get(source, "text")) or table_row["text"]


def held_out(key: str) -> bool:
    return hashlib.sha256(f"modern-inner:{normalise(key)}".encode()).digest()[0] < INNER_BELOW


def seeded_first(rows: list[dict], quota: int | None) -> list[dict]:
    return sorted(rows, key=lambda r: hashlib.sha256(f"{SEED}:{r['text']}".encode()).digest())[:quota]


def public_rows(source: str) -> tuple[list[dict], list[dict]]:
    """(inner-train, held-out) rows of one public table's dev half."""
    name = "bias_counterfactual.jsonl" if source == "counterfactual" else f"bias_public_{source}.jsonl"
    sides: tuple[list[dict], list[dict]] = ([], [])
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        table_row = json.loads(line)
        endorsed = label_of(source, table_row)
        if table_row["split"] != "dev" or endorsed is None:
            continue
        severity = public_severity(source, table_row, endorsed) or (SEVERITY.get(source) if endorsed else None)
        sides[held_out(inner_key(source, table_row))].append(
            row(table_row["text"], endorsed, source, severity, kind=table_row.get("type") or table_row["label"]))
    return seeded_first(sides[0], QUOTAS[source]), seeded_first(sides[1], HELD_OUT_QUOTAS.get(source))


def training_data() -> tuple[list[dict], list[dict]]:
    train, held = [], []
    for source in QUOTAS:
        if source == "books":
            continue
        inner, out = public_rows(source)
        train += inner
        held += [r for r in out if r["source"] in ("toxigen", "redditbias", "hatecheck", "bbq")]
    books = [{**r, "kind": "endorsed" if r["endorsed"] else "other"} for r in book_rows(DATA) if r["scored"]]
    train += seeded_first([r for r in books if not is_validation(r["book_id"])], QUOTAS["books"])
    held += [r for r in books if is_validation(r["book_id"])]
    return train, held


def pick_threshold(probabilities: list[float], rows: list[dict]) -> float:
    """The lowest threshold (3 decimals) flagging at most MAX_FLAGGED of each held-out negative set."""
    cut = 0.5
    for source, rate in MAX_FLAGGED.items():
        negatives = sorted((p for p, r in zip(probabilities, rows) if r["source"] == source and not r["endorsed"]),
                           reverse=True)
        allowed = int(rate * len(negatives))
        if allowed < len(negatives):
            cut = max(cut, round(min(0.999, negatives[allowed] + 0.0005), 3))
    return cut


def held_out_figures(probabilities: list[float], rows: list[dict], cut: float) -> dict:
    """Share flagged at `cut` per held-out source and kind."""
    figures = {}
    for source, kind in sorted({(r["source"], r["kind"]) for r in rows}):
        hits = [p >= cut for p, r in zip(probabilities, rows) if r["source"] == source and r["kind"] == kind]
        figures[f"{source} {kind}"] = round(sum(hits) / len(hits), 4)
    return figures


def merit(figures: dict) -> float:
    """Held-out ToxiGen hate recall plus RedditBias separation: what the modern head is for."""
    return (figures["toxigen explicit"] + figures["redditbias biased"] - figures["redditbias unbiased"])


def train(train_rows: list[dict], held: list[dict]) -> list[dict]:
    """Train, writing the best epoch's weights to WEIGHTS as they come; each epoch's held-out figures."""
    _, (states, _), (held_states, _), start_state, started = seeded_start([r["text"] for r in train_rows],
                                                                           [r["text"] for r in held])
    modern = ModernScorer(start_state)
    optimizer = torch.optim.AdamW([{"params": list(modern.layers.parameters()), "lr": LAYER_LR},
                                   {"params": list(modern.head.parameters()), "lr": HEAD_LR}], weight_decay=0.01)
    targets = torch.tensor([float(r["endorsed"]) for r in train_rows])
    weights = torch.tensor([WEIGHT.get(r["source"], 1.0) for r in train_rows])
    severities = torch.tensor([SEVERITIES.index(r["severity"]) if r["severity"] else -100 for r in train_rows])
    generator = torch.Generator().manual_seed(SEED)
    plan = [batches([s.shape[0] for s in states], generator) for _ in range(EPOCHS)]
    total = sum(len(p) for p in plan)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda n: 1 - n / total)
    epochs, best = [], None
    for epoch, epoch_batches in enumerate(plan):
        modern.train()
        running = 0.0
        for rows in epoch_batches:
            running += optimiser_step(optimizer, scheduler, *modern.logits(*padded(states, rows)), targets[rows],
                                      weights[rows], severities[rows])
        modern.eval()
        with torch.no_grad():
            probabilities = [p for start in range(0, len(held), 64) for p in torch.sigmoid(
                modern.logits(*padded(held_states, list(range(start, min(start + 64, len(held))))))[0]).tolist()]
        cut = pick_threshold(probabilities, held)
        figures = {"epoch": epoch + 1, "loss": round(running / len(epoch_batches), 4), "threshold": cut,
                   **held_out_figures(probabilities, held, cut)}
        epochs.append(figures)
        print(f"{figures} ({time.perf_counter() - started:.0f} s since start)", flush=True)
        if best is None or merit(figures) > merit(best):
            best = figures
            kept = {name: t for offset, layer in enumerate(modern.layers)
                    for name, t in checkpoint_state(layer, FIRST_TUNED + offset).items()}
            kept.update({f"head.{name}": t for name, t in modern.head.state_dict().items()})
            kept = {name: t.detach().to(torch.float16) for name, t in kept.items()}
            write_safetensors(WEIGHTS, kept)  # the best so far on disk: a long run stopped early leaves weights
    return epochs


def write_card(train_rows: list[dict], held: list[dict], epochs: list[dict]) -> None:
    """The card: how the weights were made, and the held-out figures of the head as it runs (fp16, bf16 reading)."""
    modern = ModernScorer(read_safetensors(WEIGHTS))
    modern.layers.to(torch.bfloat16)
    probabilities = [m.endorsed for _, m in modern.eval().assess_both([r["text"] for r in held])]
    cut = pick_threshold(probabilities, held)
    counts = dict(Counter(r["source"] for r in train_rows))
    card = {
        **card_head(MODERN_VERSION, "python -m phaselog.bias_tooling.train_modern_scorer"),
        "hyperparameters": {"epochs": EPOCHS, "batch": BATCH, "layer_lr": LAYER_LR, "head_lr": HEAD_LR,
                            "quotas": QUOTAS, "held_out_quotas": HELD_OUT_QUOTAS, "weight": WEIGHT,
                            "inner_below": INNER_BELOW, "max_flagged": MAX_FLAGGED},
        "data_sha256": data_sha256(train_rows + held), "rows": counts, "held_out_rows": len(held),
        "epochs": epochs, "kept_epoch": max(epochs, key=merit)["epoch"],
        "raw_threshold": cut, "held_out_at_raw_threshold": held_out_figures(probabilities, held, cut),
        "threshold": DETECTOR_CUT, "held_out": held_out_figures(probabilities, held, DETECTOR_CUT),
        "weights_sha256": hashlib.sha256(WEIGHTS.read_bytes()).hexdigest(),
    }
    CARD.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: card[k] for k in ("raw_threshold", "threshold", "held_out", "weights_sha256")}, indent=1))


def main() -> None:
    torch.set_num_threads(1)  # one thread and deterministic kernels: the same bytes on every rebuild
    torch.use_deterministic_algorithms(True)
    train_rows, held = training_data()
    counts = dict(Counter(r["source"] for r in train_rows))
    print(f"training rows {len(train_rows)} {counts}; held-out rows {len(held)}", flush=True)
    epochs = train(train_rows, held)  # its best epoch's weights are on disk
    write_card(train_rows, held, epochs)


if __name__ == "__main__":
    main()
