"""Loops and bias for any text, for `phaselog scan`-style commands: one document or a file of them."""

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from phaselog.core.errors import DataError
from phaselog.understanding.bias import SENTENCE_END
from phaselog.understanding.bias_detector import scan_bias
from phaselog.understanding.loops import detect_loops


class ScanInputError(DataError, ValueError):
    """A scan input that cannot be read; a ValueError too, so plain callers can catch it without phaselog."""


def scan_text(text: str) -> dict:
    return {"loops": detect_loops(text).as_dict(), "bias": [f.as_dict() for f in scan_bias(text)]}


def iter_scan_inputs(path: str) -> Iterator[tuple[str, str]]:
    """(doc_id, text) pairs: "-" is stdin (one document), a .jsonl file is one document per line with a
    "text" field (doc_id from an "id" field, else file:line), anything else is one plain-text document."""
    if path == "-":
        yield "stdin", sys.stdin.read()
        return
    file = Path(path)
    if not file.is_file():
        raise ScanInputError(f"{path}: no such file; give a .txt or .jsonl file, or - for stdin")
    if file.suffix != ".jsonl":
        try:
            yield path, file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ScanInputError(f"{path}: not UTF-8 text; give a .txt or .jsonl file") from None
        return
    with file.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                row = json.loads(raw) if raw.strip() else None
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                reason = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8"
                raise ScanInputError(f"{path}:{number}: not valid JSON ({reason})") from None
            if row is None:
                continue  # blank lines, e.g. a trailing newline
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ScanInputError(f"{path}:{number}: needs a \"text\" field holding a string")
            yield str(row.get("id", f"{path}:{number}")), row["text"]


TEXT_BYTES = 2_000  # a reflection's size: a run scans text in pieces of about this many bytes


def as_texts(sentences: list[str], size: int = TEXT_BYTES) -> list[str]:
    """The sentences joined in order into texts of about size bytes (a sentence is never split)."""
    texts, current = [], ""
    for sentence in sentences:
        current += sentence.rstrip(".!?") + ". "
        if len(current.encode()) >= size:
            texts.append(current)
            current = ""
    return texts + [current] if current else texts


def corpus_sentences(corpus: Path, limit: int) -> list[str]:
    """The first limit sentences of the .txt files under corpus (sorted; or of corpus, a file), whitespace folded:
    the prose that `phaselog bench scan` and the gate's figures read."""
    sentences = []
    for path in [corpus] if corpus.is_file() else sorted(corpus.rglob("*.txt")):
        text = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
        sentences += [s.strip() for s in SENTENCE_END.split(text) if len(s.strip()) > 1]
    return sentences[:limit]


def sentences_per_second(read, sentences: list, repeats: int) -> list[float]:
    """Sentences per second of read(sentence) over all of them, once per repeat, in CPU time of this process
    (time.process_time), so other load on the machine shows less than in wall time."""
    rates = []
    for _ in range(repeats):
        started = time.process_time()
        for sentence in sentences:
            read(sentence)
        rates.append(len(sentences) / (time.process_time() - started))
    return rates
