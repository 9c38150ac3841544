"""What the builders of the frozen public bias sets share (docs/detectors.md, "Evaluation protocol"): the
normalised text a sentence is known by, the sha256 split, dropping a text that came under two labels, and
writing a table with its source's licence beside it."""
import hashlib
import json
import re
from pathlib import Path
from typing import Iterable


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


# a sentence ends at . ! or ? before a space, but not after a title ("Mrs. Grey")
SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\bmr\.)(?<!\bmrs\.)(?<!\bms\.)(?<!\bdr\.)(?<!\bst\.)\s+")


def sentences(text: str) -> list[str]:
    """The normalised sentences of a text (a BBQ context is two or three; most rows are one)."""
    return [part for part in SENTENCE_END.split(normalise(text)) if part]


def sentence_runs(text: str) -> set[str]:
    """Every run of consecutive sentences of a text, normalised: a text that holds another one whole (a BBQ
    disambiguated context holds its ambiguous context) shares a run with it."""
    parts = sentences(text)
    return {" ".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}


def split_of(text: str) -> str:
    """The frozen rule: first byte of sha256(normalised text) even -> dev (may be read and tuned on), odd -> test
    (scored, never tuned on)."""
    return "dev" if hashlib.sha256(normalise(text).encode("utf-8")).digest()[0] % 2 == 0 else "test"


def pick(options: list, key: str):
    """The option the sha256 of the normalised `key` points at: fixed by the text alone, as the split is."""
    digest = hashlib.sha256(normalise(key).encode("utf-8")).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


def unambiguous(entries: Iterable[tuple[str, str, dict]]) -> list[dict]:
    """From (text, label, row) entries: the first row of each normalised text, in text order, leaving out a text
    that came under two labels (nobody can say which it is)."""
    found: dict[str, dict] = {}
    labels: dict[str, set] = {}
    for text, label, row in entries:
        key = normalise(text)
        labels.setdefault(key, set()).add(label)
        found.setdefault(key, row)
    return [row for key, row in sorted(found.items()) if len(labels[key]) == 1]


def without_test_sentences(rows: list[dict], out: Path) -> list[dict]:
    """The rows less every dev row that holds a sentence (or run of sentences) of a test row, of this table or of
    any other table beside `out`: a sentence scored in one set is never trained on from another. Run the builders
    a second time once all tables exist, so that each has seen the others' test rows."""
    others = [row for table in sorted(out.parent.glob("bias_*.jsonl")) if table.name != out.name
              for row in read_table(table)]
    held_out = {run for row in rows + others if row["split"] == "test" for run in sentence_runs(row["text"])}
    kept = [row for row in rows if row["split"] == "test" or not sentence_runs(row["text"]) & held_out]
    print(f"{len(rows) - len(kept)} dev rows left out: they hold a test row's sentence")
    return kept


def write_table(rows: list[dict], out: Path, licence: str) -> None:
    """The table as JSON lines, with the source's licence text beside it (every licence used asks for it)."""
    with out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    licence_path(out).write_text(licence, encoding="utf-8")
    print(f"{len(rows)} rows -> {out}")


def licence_path(table: Path) -> Path:
    return table.parent / (table.stem + ".LICENSE.txt")


def read_table(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]
