"""Cut a source's cleaned texts into training documents, and account for every piece kept or dropped.

A training document is a chunk of about `chunk_chars` characters cut at paragraph breaks, so the model sees
whole paragraphs; only a paragraph longer than a chunk is cut, at sentence ends (then at spaces, then anywhere,
for text without either). Exact duplicate chunks and chunks shorter than `min_chars` are dropped, but still
yielded with the reason, so the `documents` table adds up to everything the source held.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from phaselog.datasets.sources import bad_char_count, read_texts


@dataclass(frozen=True)
class DocumentRecord:
    source: str          # the source's name from the config, e.g. "general"
    doc_id: str          # "{source}/{path}#{chunk}" for text files, "{source}/{path}:{row}#{chunk}" for rows
    path: str            # file it came from, relative to the source path
    text: str            # cleaned text of the chunk
    chars: int
    bytes: int           # UTF-8 bytes of the cleaned text
    sha1: str            # of the cleaned text
    bad_chars: int       # replacement characters and mojibake marks left in the text (see sources.bad_char_count)
    kept: bool
    drop_reason: str | None  # None when kept (NULL in the store); else "duplicate", "too_short" or "empty"


def iter_documents(source: str, path: Path, format: str | None = None, text_column: str = "text",
                   min_chars: int = 200, chunk_chars: int = 4000,
                   max_bad_char_share: float = 0.01) -> Iterator[DocumentRecord]:
    """Every chunk of every document of one source, in file order, kept or with the reason it was dropped."""
    seen = set()
    for relative, row, text in read_texts(Path(path), format, text_column, max_bad_char_share):
        name = f"{source}/{relative}" if row is None else f"{source}/{relative}:{row}"
        # a document that cleaning emptied still gets a row: otherwise it would vanish from the accounting
        for index, chunk in enumerate(split_into_chunks(text, chunk_chars) or [""]):
            sha1 = hashlib.sha1(chunk.encode()).hexdigest()
            if not chunk:
                reason = "empty"
            elif len(chunk) < min_chars:
                reason = "too_short"
            elif sha1 in seen:
                reason = "duplicate"
            else:
                reason = None
                seen.add(sha1)
            yield DocumentRecord(source=source, doc_id=f"{name}#{index}", path=relative, text=chunk,
                                 chars=len(chunk), bytes=len(chunk.encode()), sha1=sha1,
                                 bad_chars=bad_char_count(chunk), kept=reason is None, drop_reason=reason)


# Where a text may be cut, from best to worst; the group is the gap that the cut removes.
_BREAKS = [
    re.compile(r"(\n(?:[ \t]*\n)+)"),            # between paragraphs, keeping the next one's indent
    re.compile(r"[.!?][\"'”’)\]]*(\s+)"),       # after a sentence, keeping its closing quote or bracket
    re.compile(r"(\s+)"),                       # between words
]


def split_into_chunks(text: str, chunk_chars: int) -> list[str]:
    """Chunks of at most `chunk_chars` characters, each a slice of the text without leading or trailing gaps."""
    return [text[start:end] for start, end in _chunk_spans(text, 0, len(text), chunk_chars, 0)]


def _chunk_spans(text: str, start: int, end: int, limit: int, level: int) -> list[tuple[int, int]]:
    """Split text[start:end] at the best breaks that fit, then pack neighbouring pieces up to the limit."""
    if level == len(_BREAKS):
        # no break at all within the limit (a URL, a base64 blob): cutting anywhere is all that is left
        return [(cut, min(cut + limit, end)) for cut in range(start, end, limit)]
    pieces, piece_start = [], start
    for gap in _BREAKS[level].finditer(text, start, end):
        pieces.append((piece_start, gap.start(1)))
        piece_start = gap.end(1)
    pieces.append((piece_start, end))
    spans = []
    for piece_start, piece_end in pieces:
        if piece_start == piece_end:
            continue
        if piece_end - piece_start > limit:
            spans.extend(_chunk_spans(text, piece_start, piece_end, limit, level + 1))
        elif spans and piece_end - spans[-1][0] <= limit:
            spans[-1] = (spans[-1][0], piece_end)
        else:
            spans.append((piece_start, piece_end))
    return spans
