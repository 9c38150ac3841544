"""Merge the annotators' label files into bias_tooling/data/books.jsonl and check the table (issue #39).

    python -m phaselog.bias_tooling.book_labels merge ANNOTATOR batch_01.labels.jsonl [...]
    python -m phaselog.bias_tooling.book_labels check [--complete]
    python -m phaselog.bias_tooling.book_labels agreement bias_tooling/data/books.agreement.jsonl

A label file has one JSON object a line: id, label, voice, category, severity, group, claim and, optionally,
note (docs/detectors.md, "Annotated book corpus: the guide", says what each means). `merge` checks every row of
every file first and writes nothing if one is wrong; a sentence already labelled keeps its label unless the same
annotator sends it again. `check` validates the whole table; with --complete it also requires every row labelled. `agreement` compares a
second annotator's labels of a sample (kept apart from the table) with the table's: Cohen's kappa on the label,
on "a scored generalisation or not" (endorsed, category not `other`), and on category and severity where both
said endorsed."""
from collections import Counter
import argparse
import json
import sys
from pathlib import Path

from phaselog.bias_tooling.book_sentences import TABLE, read_table, write_table

LABELS = ("endorsed", "reported", "neutral", "unusable")
VOICES = ("narrator", "dialogue")
CATEGORIES = ("gender", "ethnicity", "nationality", "religion", "age", "disability", "sexual_orientation",
              "migration", "socioeconomic", "class", "physical_appearance", "other")
SEVERITIES = ("high", "medium", "low")
SPLITS = ("dev", "test")
FIELDS = ("id", "label", "voice", "category", "severity", "group", "claim", "note")


def label_problems(label: dict, sentence: str) -> list[str]:
    """What is wrong with one label for its sentence (an empty list when nothing is)."""
    problems = [f"unknown field {key!r}" for key in label if key not in FIELDS]
    kind = label.get("label")
    if kind not in LABELS:
        return problems + [f"label {kind!r} is not one of {', '.join(LABELS)}"]
    if kind == "unusable":
        return problems
    if label.get("voice") not in VOICES:
        problems.append(f"voice {label.get('voice')!r} is not one of {', '.join(VOICES)}")
    if label.get("category") not in CATEGORIES:
        problems.append(f"category {label.get('category')!r} is not one of {', '.join(CATEGORIES)}")
    if kind == "neutral":
        if label.get("severity") is not None or label.get("claim"):
            problems.append("a neutral sentence has no severity and no claim")
    else:
        if label.get("severity") not in SEVERITIES:
            problems.append(f"severity {label.get('severity')!r} is not one of {', '.join(SEVERITIES)}")
        if not label.get("claim"):
            problems.append(f"an {kind} sentence needs its claim span")
    if not label.get("group"):
        problems.append("group span missing")
    for span in ("group", "claim"):
        if label.get(span) and label[span] not in sentence:
            problems.append(f"{span} {label[span]!r} is not copied from the sentence")
    return problems


def table_problems(rows: list[dict], complete: bool) -> list[str]:
    problems, seen = [], set()
    for row in rows:
        if row["id"] in seen:
            problems.append(f"{row['id']}: in the table twice")
        seen.add(row["id"])
        if row.get("split") not in SPLITS:
            problems.append(f"{row['id']}: split {row.get('split')!r} is not dev or test")
        if row.get("label") is None:
            if complete:
                problems.append(f"{row['id']}: not labelled")
            continue
        problems += [f"{row['id']}: {p}" for p in label_problems(
            {k: row.get(k) for k in FIELDS if k in row and (k != "note" or row.get(k))}, row["text"])]
        if not row.get("annotator"):
            problems.append(f"{row['id']}: labelled without an annotator id")
    return problems


def read_labels(file: Path) -> list[dict]:
    labels = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                labels.append(json.loads(line))
            except json.JSONDecodeError as error:
                sys.exit(f"{file}:{number}: not JSON ({error.msg}): one label object a line")
    return labels


def merge(rows: list[dict], files: list[Path], annotator: str) -> tuple[list[dict], list[str]]:
    """The table with the files' labels in, and the problems found (the table is unchanged if there are any)."""
    by_id = {row["id"]: row for row in rows}
    problems, incoming = [], {}
    for file in files:
        for label in read_labels(file):
            where = f"{file.name}: {label.get('id')}"
            if label.get("id") not in by_id:
                problems.append(f"{where}: no such sentence in {TABLE.name}")
            elif label["id"] in incoming:
                problems.append(f"{where}: labelled twice")
            elif by_id[label["id"]].get("label") and by_id[label["id"]].get("annotator") != annotator:
                problems.append(f"{where}: already labelled by {by_id[label['id']]['annotator']}")
            else:
                problems += [f"{where}: {p}" for p in label_problems(label, by_id[label["id"]]["text"])]
                incoming[label["id"]] = label
    if problems:
        return rows, problems
    merged = []
    for row in rows:
        label = incoming.get(row["id"])
        if label:
            row = {**row, **{k: label.get(k) for k in FIELDS[1:]}, "annotator": annotator}
            if row["label"] in ("neutral", "unusable"):
                row["severity"] = None
        merged.append(row)
    return merged, []


def cohen_kappa(pairs: list[tuple]) -> tuple[float, float]:
    """Observed agreement and Cohen's kappa of (first, second) annotations."""
    observed = sum(a == b for a, b in pairs) / len(pairs)
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(first[k] * second[k] for k in first) / len(pairs) ** 2
    return observed, (observed - chance) / (1 - chance)


def agreement(rows: list[dict], second: list[dict]) -> dict[str, tuple[int, float, float]]:
    """Per facet: (sentences compared, observed agreement, kappa) of the table's labels against a second set."""
    by_id = {row["id"]: row for row in rows}
    pairs = [(by_id[label["id"]], label) for label in second]

    def scored(row: dict) -> bool:
        return row["label"] == "endorsed" and row["category"] != "other"

    both_endorsed = [(a, b) for a, b in pairs if a["label"] == b["label"] == "endorsed"]
    facets = {"label": [(a["label"], b["label"]) for a, b in pairs],
              "scored generalisation": [(scored(a), scored(b)) for a, b in pairs],
              "category, both endorsed": [(a["category"], b["category"]) for a, b in both_endorsed],
              "severity, both endorsed": [(a["severity"], b["severity"]) for a, b in both_endorsed]}
    return {name: (len(facet), *cohen_kappa(facet)) for name, facet in facets.items()}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m phaselog.bias_tooling.book_labels")
    commands = parser.add_subparsers(dest="command", required=True)
    merge_command = commands.add_parser("merge", help="merge label files into the table")
    merge_command.add_argument("annotator", help="who labelled these files (kept on every row)")
    merge_command.add_argument("files", type=Path, nargs="+")
    check_command = commands.add_parser("check", help="validate the table")
    check_command.add_argument("--complete", action="store_true", help="require every sentence labelled")
    agreement_command = commands.add_parser("agreement", help="a second annotator's sample against the table")
    agreement_command.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    rows = read_table()
    if args.command == "agreement":
        for name, (n, observed, kappa) in agreement(rows, read_labels(args.file)).items():
            print(f"{name}: {n} sentences, agreement {observed:.3f}, Cohen's kappa {kappa:.3f}")
        return
    if args.command == "merge":
        missing = [str(f) for f in args.files if not f.is_file()]
        if missing:
            sys.exit(f"no such label file: {', '.join(missing)}")
        rows, problems = merge(rows, args.files, args.annotator)
    else:
        problems = table_problems(rows, args.complete)
    if problems:
        print("\n".join(problems[:50]), file=sys.stderr)
        sys.exit(f"{len(problems)} problems; nothing written" if args.command == "merge" else
                 f"{len(problems)} problems in {TABLE}")
    if args.command == "merge":
        write_table(rows)
    done = sum(1 for r in rows if r.get("label"))
    print(f"{TABLE}: {len(rows)} sentences, {done} labelled")


if __name__ == "__main__":
    main(sys.argv[1:])
