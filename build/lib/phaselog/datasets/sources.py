"""Read a researcher's text sources (.txt, .parquet, .jsonl) and clean them into plain Unicode documents.

A source is a file or a directory of files. Each .txt file is one document; each parquet or jsonl row is one
document. Text files arrive as people really have them: BOMs, CRLF, Latin-1, Project Gutenberg wrappers. This
module decodes them per file, strips the wrappers, and refuses (with the file's name) what is not text.
Splitting documents into training chunks is `datasets.documents`.
"""

import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from phaselog.core.errors import DataError

# .json is read as one object per line too: that is how FineWeb-style exports name their jsonl files.
FORMAT_OF_SUFFIX = {".txt": "txt", ".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}
FORMATS = ("txt", "parquet", "jsonl")

# Rows per parquet batch: FineWeb rows are a few kB, so this keeps a batch at a few MB, whatever the row group.
PARQUET_BATCH_ROWS = 1024


def source_files(path: Path, format: str | None = None) -> list[tuple[Path, str]]:
    """The files of a source with the format each is read as, sorted so every run reads them in one order."""
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise DataError(f"unknown source format {format!r} for {path}: use one of {', '.join(FORMATS)}")
    if path.is_file():
        file_format = format or FORMAT_OF_SUFFIX.get(path.suffix.lower())
        if file_format is None:
            raise DataError(f"cannot tell the format of {path} from its extension: set the source's format")
        return [(path, file_format)]
    if not path.is_dir():
        raise DataError(f"source path {path} does not exist")
    files = []
    for file in sorted(path.rglob("*")):
        # hidden files are editor and OS droppings (macOS writes binary "._name.txt" twins next to real texts)
        if not file.is_file() or any(part.startswith(".") for part in file.relative_to(path).parts):
            continue
        file_format = FORMAT_OF_SUFFIX.get(file.suffix.lower())
        if file_format is not None and (format is None or file_format == format):
            files.append((file, file_format))
    if not files:
        wanted = f"{format} files" if format else f"files ending in {', '.join(FORMAT_OF_SUFFIX)}"
        raise DataError(f"source path {path} holds no {wanted}")
    return files


def read_texts(path: Path, format: str | None = None, text_column: str = "text",
               max_bad_char_share: float = 0.01) -> Iterator[tuple[str, int | None, str]]:
    """Yield (file path relative to the source, row number or None for .txt, cleaned text) for every document."""
    path = Path(path)
    for file, file_format in source_files(path, format):
        relative = file.name if file == path else file.relative_to(path).as_posix()
        if file_format == "txt":
            yield relative, None, clean_text(decode_text(file.read_bytes(), file, max_bad_char_share))
        elif file_format == "parquet":
            for row, text in enumerate(read_parquet(file, text_column)):
                yield relative, row, clean_text(text)
        else:
            for row, text in enumerate(read_jsonl(file, text_column)):
                yield relative, row, clean_text(text)


# Control bytes that never occur in text; tab, LF, VT, FF, CR and ESC are left out because real texts have them.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\x0b\x0c\r\x1b")
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if b not in _CONTROL_BYTES)

# UTF-8 read as cp1252 turns each multi-byte character into a lead letter plus continuation marks ("Ã©", "â€™").
_CONTINUATION = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(0x80, 0xC0))
_CONT = f"[{re.escape(_CONTINUATION)}]"
# Replacement characters, C1 controls (cp1252 bytes misread as Latin-1) and UTF-8 read as cp1252 all mark bad text.
_BAD_CHARS = re.compile(f"\ufffd|[\u0080-\u009f]|[\u00c2-\u00df]{_CONT}|[\u00e0-\u00ef]{_CONT}{{2}}")
# Every bad mark starts with U+FFFD or a character in U+0080-U+00EF, whose UTF-8 forms begin with these bytes.
# Looking for bytes runs at memory speed, a regex character class at one step per character: most English text
# has none of them, so the cheap look decides.
_BAD_START_BYTES = (b"\xef\xbf\xbd", b"\xc2", b"\xc3")


def bad_char_count(text: str) -> int:
    """Replacement characters, stray C1 controls and mojibake pairs in a text."""
    if text.isascii():
        return 0
    encoded = text.encode("utf-8", "surrogatepass")
    return len(_BAD_CHARS.findall(text)) if any(start in encoded for start in _BAD_START_BYTES) else 0


def decode_text(raw: bytes, file: Path, max_bad_char_share: float = 0.01) -> str:
    """Decode one text file, deciding its encoding from its own bytes: a directory may mix encodings."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 is full of NUL bytes, so it is recognised by its BOM before the binary check
        text = raw.decode("utf-16", errors="replace")
    else:
        sample = raw[:65536]
        # a quarter of control bytes is far beyond any real text but typical of images, archives and pickles
        if b"\x00" in raw or len(sample.translate(None, _NOT_CONTROL_BYTES)) > len(sample) // 4:
            raise DataError(f"{file} is a binary file, not text: remove it from the source or fix its extension")
        if raw.startswith(b"\xef\xbb\xbf"):
            text = raw[3:].decode("utf-8", errors="replace")
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                # not UTF-8: older texts are Latin-1, and cp1252 is Latin-1 plus the curly quotes Windows put in
                text = raw.decode("cp1252", errors="replace")
    bad = bad_char_count(text)
    if text and bad / len(text) > max_bad_char_share:
        raise DataError(f"{file} has {bad / len(text):.1%} undecodable or garbled characters "
                        f"(limit {max_bad_char_share:.1%}): re-save it as UTF-8")
    return text


def clean_text(text: str) -> str:
    """One canonical form for every document, so equal texts tokenize and deduplicate equally."""
    # each step first asks whether it has anything to do: a substring test is far cheaper than a regex pass
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    if " \n" in text or "\t\n" in text:
        # spaces and tabs before a line break go; the last line has no break after it, so it keeps them
        lines = text.split("\n")
        text = "\n".join([line.rstrip(" \t") for line in lines[:-1]] + lines[-1:])
    text = strip_gutenberg(text)
    # two blank lines can mark a section break; more are layout, not meaning
    if "\n\n\n\n" in text:
        text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.strip()


_GUTENBERG_START = re.compile(r"^\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
# "*** END OF THIS ...", "End of the Project Gutenberg EBook of ...", "End of Project Gutenberg's ..."
_GUTENBERG_END = re.compile(r"^[ *]*END OF (?:THE |THIS )?PROJECT GUTENBERG", re.I | re.M)
_PRODUCED_BY = re.compile(r"\A\s*Produced by .*?(?:\n\n|\Z)", re.S)
_NAMES_GUTENBERG = re.compile(r"project gutenberg|gutenberg\.(?:org|net)", re.I)


def strip_gutenberg(text: str) -> str:
    """Keep only the book: the header, licence footer and credit lines would be learned as if they were text."""
    # every marker below names "gutenberg", whose letters have no non-ASCII case twins, so a text whose lower
    # case lacks the word is no Gutenberg book and skips the three whole-text regex scans
    if "gutenberg" not in text.lower():
        return text
    start = _GUTENBERG_START.search(text)
    if start:
        text = _PRODUCED_BY.sub("", text[start.end():])
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[:end.start()]
    # transcriber notes and credits inside the book still name the project and its site
    if _NAMES_GUTENBERG.search(text):
        text = "\n\n".join(p for p in re.split(r"\n{2,}", text) if not _NAMES_GUTENBERG.search(p))
    return text


def read_parquet(file: Path, text_column: str) -> Iterator[str]:
    """The text column of a parquet file, batch by batch: shards can be larger than memory."""
    try:
        parquet = pq.ParquetFile(file)
        columns = parquet.schema_arrow.names
        if text_column not in columns:
            raise DataError(f"{file} has no column {text_column!r}; its columns are {', '.join(columns)}: "
                            f"set the source's text_column")
        text_type = parquet.schema_arrow.field(text_column).type
        if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
            raise DataError(f"{file} column {text_column!r} holds {text_type}, not text: set the source's text_column")
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=[text_column]):
            for text in batch.column(0).to_pylist():
                yield text or ""
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{file} is not a readable parquet file ({error}): re-export it or remove it") from error


def read_jsonl(file: Path, text_column: str) -> Iterator[str]:
    """The text field of each line of a jsonl file; blank lines are allowed, anything else must be an object."""
    with open(file, encoding="utf-8-sig") as lines:
        line_number = 0
        try:
            for line_number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict) or text_column not in row:
                    keys = ", ".join(row) if isinstance(row, dict) else type(row).__name__
                    raise DataError(f"{file} line {line_number} has no field {text_column!r} (found: {keys}): "
                                    f"set the source's text_column")
                text = row[text_column]
                if text is not None and not isinstance(text, str):
                    raise DataError(f"{file} line {line_number} field {text_column!r} holds "
                                    f"{type(text).__name__}, not text: set the source's text_column")
                yield text or ""
        except json.JSONDecodeError as error:
            raise DataError(f"{file} line {line_number} is not valid JSON ({error.msg}): "
                            f"jsonl needs one JSON object per line") from error
        except UnicodeDecodeError as error:
            raise DataError(f"{file} after line {line_number} is not UTF-8: re-save it as UTF-8") from error


def source_fingerprint(path: Path, format: str | None = None) -> str:
    """A hash of every input file's relative path, size and content: it changes when any file is added or edited."""
    path = Path(path)
    fingerprint = hashlib.sha1()
    for file, _ in source_files(path, format):
        content = hashlib.sha1()
        with open(file, "rb") as stream:
            while block := stream.read(1 << 20):
                content.update(block)
        relative = file.name if file == path else file.relative_to(path).as_posix()
        fingerprint.update(f"{relative}\t{file.stat().st_size}\t{content.hexdigest()}\n".encode())
    return fingerprint.hexdigest()
