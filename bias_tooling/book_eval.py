"""Score the bias detector on the annotated book corpus (issue #39), one split at a time.

    python -m phaselog.bias_tooling.book_eval dev [--json]
    python -m phaselog.bias_tooling.book_eval test [--json]

A sentence counts as found when `scan_bias` (understanding/bias_detector.py: the gate, the learned scorer and the
grammar) gives it a finding at medium or above (a generalisation the
detector calls low is not one it would stand behind). Only the scored categories are counted (the guide's
`other` is out), and unusable rows are out. The two figures the issue sets targets on: the share of endorsed
generalisations found, and the share of reported plus neutral sentences flagged. The test books are frozen:
score them once per change to the detector, never while tuning it (docs/detectors.md, "Annotated book corpus")."""
from collections import defaultdict
import argparse
import json

from phaselog.bias_tooling.book_sentences import read_table
from phaselog.understanding.bias_detector import scan_bias_many, worst_severity


def flagged_at_medium(texts: list[str]) -> list[bool]:
    """Per text, whether it has a finding at medium or above; one scorer pass over all of them."""
    return [worst_severity(findings) in ("medium", "high") for findings in scan_bias_many(texts)]


def split_figures(rows: list[dict], split: str) -> dict:
    """Found/total for endorsed and for reported+neutral, overall and per category."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    rows = [row for row in rows if row["split"] == split and row["label"] != "unusable" and row["category"] != "other"]
    for row, hit in zip(rows, flagged_at_medium([row["text"] for row in rows])):
        side = "endorsed" if row["label"] == "endorsed" else "reported_or_neutral"
        for key in ((side, "all"), (side, row["category"])):
            counts[key][0] += hit
            counts[key][1] += 1
    return {side: {category: tuple(counts[(side, category)]) for s, category in sorted(counts) if s == side}
            for side in ("endorsed", "reported_or_neutral")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m phaselog.bias_tooling.book_eval")
    parser.add_argument("split", choices=("dev", "test"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = split_figures(read_table(), args.split)
    if args.json:
        print(json.dumps(figures))
        return
    for side, by_category in figures.items():
        print(f"{args.split} {side} flagged at medium+: " + ", ".join(
            f"{category} {found}/{total} ({found / total:.1%})" for category, (found, total) in by_category.items()))


if __name__ == "__main__":
    main()
