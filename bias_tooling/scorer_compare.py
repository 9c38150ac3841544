"""Compare scorer weights on the same validation books, as each would run (fp16 weights, bf16 reading):

    python -m phaselog.bias_tooling.scorer_compare understanding/lexicons/bias_scorer.v2.safetensors OTHER.safetensors
        [--rounds 5]

The validation books are train_scorer's (dev books held out by sha256 of the book id), with the labelling rounds up
to --rounds, so that weights trained on fewer rounds are read on the same sentences as the newest. A threshold
is picked on these sentences for each weights file at each share of the scored reported or neutral sentences
flagged (2, 4, 5, 10%): a card's own threshold was picked on fewer rounds, so comparing at it would compare flag
rates, not rankings. Per weights file: endorsed found at each share, the gate and the scorer together at 4% (the
gate's verdict on a sentence, read with the one before it, as the scan reads it), the AUC, and the endorsed found
at 4% per category. A mention scorer (v5) reads each sentence once per mention the gate finds, marked, and the
sentence scores as its highest mention (0 with none: train_scorer.highest). Dev rows only: the test books are never read here (docs/detectors.md)."""
import argparse
import json
from pathlib import Path

import torch

from phaselog.bias_tooling.train_scorer import DATA, ROUNDS, flag_rates, highest, marked_mentions, training_data
from phaselog.understanding.bias_gate import group_mentions
from phaselog.understanding.bias_scorer import BiasScorer, reading
from phaselog.understanding.minilm import load_minilm, read_safetensors

SHARES = (0.02, 0.04, 0.05, 0.10)


def categories(rows: list[dict]) -> list[str]:
    """The annotator's category of each validation row (train_scorer's rows carry only whether it is scored)."""
    table = {}
    for line in (DATA / "books.jsonl").read_text(encoding="utf-8").splitlines():
        book = json.loads(line)
        table[(book["book_id"], book["text"])] = book["category"]
    return [table[(row["book_id"], row["text"])] for row in rows]


def threshold_at(probabilities: list[float], rows: list[dict], share: float) -> float:
    """The lowest score that flags at most `share` of the scored reported or neutral rows (ties stay below)."""
    others = sorted((p for p, r in zip(probabilities, rows) if r["scored"] and not r["endorsed"]), reverse=True)
    return others[int(share * len(others))] + 1e-9


def figures(probabilities: list[float], rows: list[dict], gated: list[bool], category: list[str]) -> dict:
    at = {share: flag_rates(probabilities, rows, threshold_at(probabilities, rows, share)) for share in SHARES}
    cut = threshold_at(probabilities, rows, 0.04)
    behind_gate = flag_rates([p if g else 0.0 for p, g in zip(probabilities, gated)], rows, cut)
    per_category: dict[str, list[int]] = {}
    for p, r, c in zip(probabilities, rows, category):
        if r["scored"] and r["endorsed"]:
            counts = per_category.setdefault(c, [0, 0])
            counts[0] += p >= cut
            counts[1] += 1
    return {"endorsed": at[0.04]["endorsed"], "reported_or_neutral": at[0.04]["reported_or_neutral"],
            "found": {f"{share:.0%}": (at[share]["found"], at[share]["flagged"]) for share in SHARES},
            "gate_and_scorer_4%": (behind_gate["found"], behind_gate["flagged"]), "auc": at[0.04]["auc"],
            "threshold_4%": round(cut, 4), "categories_4%": {c: tuple(n) for c, n in sorted(per_category.items())}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = training_data(DATA, args.rounds)[1]
    gated = [bool(group_mentions(r["text"], r["context"])) for r in rows]
    category = categories(rows)
    for weights in args.weights:
        scorer = reading(BiasScorer(load_minilm(), read_safetensors(weights)))
        readings = marked_mentions(rows) if scorer.marks else [[r["text"]] for r in rows]
        probabilities = highest([a.endorsed for a in scorer.assess([t for texts in readings for t in texts])], readings)
        print(json.dumps({"weights": str(weights), **figures(probabilities, rows, gated, category)}), flush=True)


if __name__ == "__main__":
    main()
