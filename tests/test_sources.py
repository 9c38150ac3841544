"""Reading sources and cutting them into training documents: small fixtures written here, plus the shared corpus."""

import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from phaselog.core.errors import DataError
from phaselog.datasets import sources
from phaselog.datasets.documents import iter_documents, split_into_chunks
from phaselog.datasets.sources import source_fingerprint

CORPUS = Path(__file__).parents[2] / "shared" / "data" / "corpus"
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared corpus is not at {CORPUS} (the repo's sibling ../shared)")


def prose(topic: str, sentences: int = 6) -> str:
    """A paragraph of distinct sentences, long enough to pass min_chars when it has a few sentences."""
    return " ".join(f"The {topic} number {i} is written out here in a plain sentence." for i in range(sentences))


def kept_texts(records) -> list[str]:
    return [r.text for r in records if r.kept]


@pytest.fixture(scope="module")
def corpus_records():
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS} (the repo's sibling ../shared)")
    return {name: list(iter_documents(name, CORPUS / name)) for name in ("general", "philosophy")}


# --- decoding text files -------------------------------------------------------------------------------------

def test_bom_is_stripped(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + prose("bom").encode())
    [record] = iter_documents("s", tmp_path)
    assert record.text.startswith("The bom number 0")
    assert "\ufeff" not in record.text


def test_utf16_file_with_bom_is_decoded(tmp_path):
    (tmp_path / "wide.txt").write_bytes(("Café " + prose("wide")).encode("utf-16"))
    [record] = iter_documents("s", tmp_path)
    assert record.text.startswith("Café The wide number 0")


def test_crlf_normalised(tmp_path):
    text = prose("first") + "\r\n\r\n" + prose("second") + "\r" + "last line\r\n"
    (tmp_path / "dos.txt").write_bytes(text.encode())
    [record] = iter_documents("s", tmp_path)
    assert "\r" not in record.text
    assert record.text == prose("first") + "\n\n" + prose("second") + "\nlast line"


def test_latin1_file_decodes_accents(tmp_path):
    text = "Le café était fermé, über alles. " + prose("latin")
    (tmp_path / "latin.txt").write_bytes(text.encode("latin-1"))
    [record] = iter_documents("s", tmp_path)
    assert record.text == text.strip()
    assert record.bytes == len(text.strip().encode("utf-8"))


def test_encoding_is_decided_per_file(tmp_path):
    (tmp_path / "a.txt").write_bytes(("naïve " + prose("utf8")).encode("utf-8"))
    (tmp_path / "b.txt").write_bytes(("naïve " + prose("latin")).encode("latin-1"))
    texts = kept_texts(iter_documents("s", tmp_path))
    assert [t[:6] for t in texts] == ["naïve ", "naïve "]


def test_text_is_nfc_and_long_blank_runs_collapse(tmp_path):
    text = "Cafe\u0301 " + prose("one") + "\n\n\n\n\n\n\n" + prose("two") + "   \n"
    (tmp_path / "n.txt").write_text(text, encoding="utf-8")
    [record] = iter_documents("s", tmp_path)
    assert record.text == "Café " + prose("one") + "\n\n\n" + prose("two")


def test_binary_file_is_refused_with_its_name(tmp_path):
    (tmp_path / "notes.txt").write_text(prose("fine"), encoding="utf-8")
    (tmp_path / "weights.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"weights\.txt is a binary file"):
        list(iter_documents("s", tmp_path))


def test_control_bytes_without_nul_are_refused_as_binary(tmp_path):
    (tmp_path / "blob.txt").write_bytes(bytes([1, 2, 3, 4, 5, 65, 66]) * 200)
    with pytest.raises(DataError, match=r"blob\.txt is a binary file"):
        list(iter_documents("s", tmp_path))


def test_garbled_text_is_refused_with_file_and_share(tmp_path):
    # UTF-8 that was once read as cp1252 and saved again: every accent turns into two or three characters
    garbled = ("Le café était déjà fermé à l’été. " * 40).encode("utf-8").decode("cp1252").encode("utf-8")
    assert "\ufffd" not in garbled.decode("utf-8")
    (tmp_path / "mojibake.txt").write_bytes(garbled)
    with pytest.raises(DataError, match=r"mojibake\.txt has \d+\.\d% undecodable or garbled"):
        list(iter_documents("s", tmp_path))


def test_a_few_bad_characters_are_tolerated_below_the_share(tmp_path):
    text = prose("mostly fine", 40) + " one broken \ufffd character."
    (tmp_path / "ok.txt").write_text(text, encoding="utf-8")
    assert kept_texts(iter_documents("s", tmp_path)) == [text]
    with pytest.raises(DataError, match=r"ok\.txt has 0\.\d% undecodable"):
        list(iter_documents("s", tmp_path, max_bad_char_share=0.0001))


# --- Project Gutenberg wrappers ------------------------------------------------------------------------------

# Lines without the words "Project Gutenberg" on purpose: only the markers can tell where the book starts and ends.
GUTENBERG_HEADER = (
    "Title: A Test\r\nAuthor: Someone\r\nRelease Date: May 1, 2001 [EBook #1]\r\n\r\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK A TEST ***\r\n\r\n\r\n\r\n\r\n"
    "Produced by Anonymous Volunteers\r\nand a second line of credits\r\n\r\n\r\n")
GUTENBERG_LICENCE = (
    "\r\n\r\nThis file should be named 1.txt or 1.zip\r\n"
    "Updated editions will replace the previous one--the old editions\r\nwill be renamed.\r\n")


@pytest.mark.parametrize("end_marker", [
    "*** END OF THIS PROJECT GUTENBERG EBOOK A TEST ***",
    "***END OF THE PROJECT GUTENBERG EBOOK A TEST***",
    "End of the Project Gutenberg EBook of A Test, by Someone",
    "End of Project Gutenberg's A Test, by Someone",
    "End of Project Gutenberg’s A Test, by Someone",
])
def test_gutenberg_header_credits_and_footer_are_stripped(tmp_path, end_marker):
    body = prose("chapter one") + "\r\n\r\n" + prose("chapter two") + "\r\n\r\n"
    (tmp_path / "pg1.txt").write_text(GUTENBERG_HEADER + body + end_marker + GUTENBERG_LICENCE, encoding="utf-8")
    [record] = iter_documents("s", tmp_path)
    assert record.text == prose("chapter one") + "\n\n" + prose("chapter two")


def test_transcriber_note_naming_gutenberg_is_dropped(tmp_path):
    text = (prose("story") + "\n\nTranscriber's note: this text came from Project Gutenberg.\n\n"
            + prose("more story"))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    [record] = iter_documents("s", tmp_path)
    assert record.text == prose("story") + "\n\n" + prose("more story")


def test_file_that_is_only_licence_is_accounted_as_empty(tmp_path):
    licence = GUTENBERG_HEADER + "*** END OF THIS PROJECT GUTENBERG EBOOK A TEST ***" + GUTENBERG_LICENCE
    (tmp_path / "licence.txt").write_text(licence, encoding="utf-8")
    [record] = iter_documents("s", tmp_path)
    assert (record.kept, record.drop_reason, record.chars, record.doc_id) == (False, "empty", 0, "s/licence.txt#0")


# --- parquet and jsonl ---------------------------------------------------------------------------------------

def write_shard(path: Path, texts: list[str], row_group_size: int) -> None:
    table = pa.table({"id": list(range(len(texts))), "url": ["http://x"] * len(texts), "text": texts})
    pq.write_table(table, path, row_group_size=row_group_size)


def test_parquet_read_in_row_group_batches(tmp_path, monkeypatch):
    texts = [prose(f"row {i}") for i in range(40)]
    write_shard(tmp_path / "shard-000.parquet", texts, row_group_size=10)
    assert pq.ParquetFile(tmp_path / "shard-000.parquet").metadata.num_row_groups == 4
    batches = []
    iter_batches = pq.ParquetFile.iter_batches

    def spy(self, *args, **kwargs):
        batches.append(kwargs.get("columns"))
        for batch in iter_batches(self, *args, **kwargs):
            batches.append(batch.num_rows)
            yield batch

    def whole_file(*args, **kwargs):
        raise AssertionError("the shard was read whole")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    monkeypatch.setattr(pq.ParquetFile, "read", whole_file)
    monkeypatch.setattr(pq, "read_table", whole_file)
    monkeypatch.setattr(sources, "PARQUET_BATCH_ROWS", 8)
    records = iter_documents("web", tmp_path)
    first = next(records)
    assert batches == [["text"], 8]  # only the text column, and only the first batch read so far
    rest = list(records)
    assert batches == [["text"]] + [8] * 5
    assert first.doc_id == "web/shard-000.parquet:0#0"
    assert [r.text for r in [first] + rest] == texts
    assert rest[-1].doc_id == "web/shard-000.parquet:39#0"


def test_parquet_without_text_column_names_file_and_columns(tmp_path):
    pq.write_table(pa.table({"id": [1], "content": ["x"]}), tmp_path / "shard.parquet")
    with pytest.raises(DataError, match=r"shard\.parquet has no column 'text'; its columns are id, content"):
        list(iter_documents("web", tmp_path))
    assert [r.text for r in iter_documents("web", tmp_path, text_column="content", min_chars=1)] == ["x"]


def test_corrupt_parquet_is_refused_with_its_name(tmp_path):
    (tmp_path / "broken.parquet").write_bytes(os.urandom(4096))
    with pytest.raises(DataError, match=r"broken\.parquet is not a readable parquet file"):
        list(iter_documents("web", tmp_path))


def test_jsonl_rows_become_documents(tmp_path):
    lines = [json.dumps({"text": prose("first")}), "", json.dumps({"text": prose("second"), "lang": "en"})]
    (tmp_path / "rows.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = list(iter_documents("j", tmp_path))
    # rows count objects, as in parquet; the blank line is not a row
    assert [r.doc_id for r in records] == ["j/rows.jsonl:0#0", "j/rows.jsonl:1#0"]
    assert kept_texts(records) == [prose("first"), prose("second")]


def test_jsonl_bad_line_names_file_and_line(tmp_path):
    lines = [json.dumps({"text": prose("good")}), json.dumps({"text": prose("good too")}), '{"text": "cut off']
    (tmp_path / "rows.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.jsonl line 3 is not valid JSON"):
        list(iter_documents("j", tmp_path))


def test_jsonl_without_text_field_names_the_fields(tmp_path):
    (tmp_path / "rows.jsonl").write_text(json.dumps({"body": "x", "id": 1}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.jsonl line 1 has no field 'text' \(found: body, id\)"):
        list(iter_documents("j", tmp_path))


# --- which files a source holds ------------------------------------------------------------------------------

def test_empty_directory_is_refused_with_its_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty holds no files"):
        list(iter_documents("s", tmp_path / "empty"))


def test_missing_path_is_refused_with_its_path(tmp_path):
    with pytest.raises(DataError, match=r"nowhere does not exist"):
        list(iter_documents("s", tmp_path / "nowhere"))


def test_directory_without_files_of_the_format_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text(prose("a"), encoding="utf-8")
    with pytest.raises(DataError, match=r"holds no parquet files"):
        list(iter_documents("s", tmp_path, format="parquet"))


def test_format_none_reads_each_file_by_its_extension_recursively(tmp_path):
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "a.txt").write_text(prose("text"), encoding="utf-8")
    (tmp_path / "deep" / "er" / "b.jsonl").write_text(json.dumps({"text": prose("json")}) + "\n", encoding="utf-8")
    write_shard(tmp_path / "deep" / "c.parquet", [prose("parquet")], row_group_size=1)
    (tmp_path / "README.md").write_text("not part of the source", encoding="utf-8")
    (tmp_path / "._a.txt").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    ids = [r.doc_id for r in iter_documents("s", tmp_path)]
    assert ids == ["s/a.txt#0", "s/deep/c.parquet:0#0", "s/deep/er/b.jsonl:0#0"]
    assert [r.doc_id for r in iter_documents("s", tmp_path, format="txt")] == ["s/a.txt#0"]


def test_single_file_source_uses_its_name_as_path(tmp_path):
    (tmp_path / "book.txt").write_text(prose("book"), encoding="utf-8")
    [record] = iter_documents("s", tmp_path / "book.txt")
    assert (record.path, record.doc_id) == ("book.txt", "s/book.txt#0")


def test_source_fingerprint_changes_when_a_file_is_added_or_edited(tmp_path):
    (tmp_path / "a.txt").write_text(prose("a"), encoding="utf-8")
    first = source_fingerprint(tmp_path)
    assert source_fingerprint(tmp_path) == first
    (tmp_path / "b.txt").write_text(prose("b"), encoding="utf-8")
    added = source_fingerprint(tmp_path)
    (tmp_path / "a.txt").write_text(prose("A"), encoding="utf-8")  # same size, different bytes
    edited = source_fingerprint(tmp_path)
    (tmp_path / "b.txt").rename(tmp_path / "c.txt")
    renamed = source_fingerprint(tmp_path)
    assert len({first, added, edited, renamed}) == 4


# --- cutting documents into chunks ---------------------------------------------------------------------------

def test_chunks_keep_paragraphs_whole():
    paragraphs = [prose(f"paragraph {i}", 2) for i in range(30)]
    text = "\n\n".join(paragraphs)
    chunks = split_into_chunks(text, 400)
    assert len(chunks) > 5
    assert all(len(c) <= 400 for c in chunks)
    assert "\n\n".join(chunks) == text
    assert [p for c in chunks for p in c.split("\n\n")] == paragraphs


def test_long_paragraph_is_cut_at_sentence_ends():
    text = " ".join(f"Sentence {i} says something “quoted.” " if i % 3 == 0 else f"Sentence {i} ends here."
                    for i in range(200))
    chunks = split_into_chunks(text.strip(), 500)
    assert len(chunks) > 5
    assert all(len(c) <= 500 and c.startswith("Sentence") and c.endswith((".", ".”")) for c in chunks)


def test_text_without_any_break_is_still_cut_to_size():
    chunks = split_into_chunks("x" * 1050, 500)
    assert [len(c) for c in chunks] == [500, 500, 50]


def test_duplicate_chunks_are_dropped_and_accounted(tmp_path):
    (tmp_path / "a.txt").write_text(prose("shared") + "\n\n" + prose("own a"), encoding="utf-8")
    (tmp_path / "b.txt").write_text(prose("shared") + "\n\n" + prose("own b"), encoding="utf-8")
    (tmp_path / "c.txt").write_text(prose("shared") + "\n\n" + prose("own a"), encoding="utf-8")
    records = list(iter_documents("s", tmp_path, chunk_chars=len(prose("shared")) + 1))
    assert [(r.doc_id, r.drop_reason) for r in records] == [
        ("s/a.txt#0", None), ("s/a.txt#1", None),
        ("s/b.txt#0", "duplicate"), ("s/b.txt#1", None),
        ("s/c.txt#0", "duplicate"), ("s/c.txt#1", "duplicate"),
    ]
    assert [r.kept for r in records] == [not r.drop_reason for r in records]
    assert records[2].sha1 == records[0].sha1 and records[2].text == prose("shared")
    assert len({r.sha1 for r in records if r.kept}) == 3


def test_short_chunks_are_dropped_as_too_short(tmp_path):
    (tmp_path / "a.txt").write_text(prose("long", 10) + "\n\nTHE END", encoding="utf-8")
    records = list(iter_documents("s", tmp_path, chunk_chars=len(prose("long", 10)) + 2, min_chars=200))
    assert [(r.text, r.kept, r.drop_reason) for r in records] == [
        (prose("long", 10), True, None), ("THE END", False, "too_short")]
    assert (records[1].chars, records[1].bytes) == (7, 7)


# --- the shared corpus ---------------------------------------------------------------------------------------

@needs_corpus
def test_gutenberg_footer_is_removed(corpus_records):
    for records in corpus_records.values():
        for record in records:
            if record.kept:
                assert "project gutenberg" not in record.text.lower(), record.doc_id
                assert "gutenberg.org" not in record.text.lower(), record.doc_id
    books = {r.path for records in corpus_records.values() for r in records if r.path.startswith("pg")}
    assert len(books) == 6


@needs_corpus
def test_shared_books_end_with_their_last_lines(corpus_records):
    last = {r.path: r.text for records in corpus_records.values() for r in records if r.kept}
    assert last["pg1342-pride-and-prejudice.txt"].endswith("the means of uniting them.")
    assert last["pg11-alice.txt"].endswith("THE END")
    assert last["pg4363-beyond-good-and-evil.txt"].endswith("were one that wedding-morn.")


@needs_corpus
def test_shared_latin1_file_decodes_accents(corpus_records):
    sherlock = " ".join(r.text for r in corpus_records["general"] if r.path == "pg1661-sherlock-holmes.txt")
    assert "fiancé" in sherlock
    assert "\ufffd" not in sherlock


@needs_corpus
def test_shared_bom_is_stripped_and_crlf_normalised(corpus_records):
    assert (CORPUS / "general" / "pg11-alice.txt").read_bytes().startswith(b"\xef\xbb\xbf")
    for records in corpus_records.values():
        assert not any("\ufeff" in r.text or "\r" in r.text for r in records)
    alice = [r for r in corpus_records["general"] if r.path == "pg11-alice.txt"]
    assert alice[0].text.startswith("ALICE’S ADVENTURES IN WONDERLAND")


@needs_corpus
def test_shared_corpus_is_accounted_in_chunks_of_the_asked_size(corpus_records):
    for name, records in corpus_records.items():
        assert len({r.doc_id for r in records}) == len(records)
        assert all(r.chars <= 4000 and r.bytes == len(r.text.encode()) for r in records)
        assert sum(r.kept for r in records) > 100


@needs_corpus
def test_shared_corpus_is_prepared_in_well_under_two_seconds():
    started = time.perf_counter()
    for name in ("general", "philosophy"):
        for _ in iter_documents(name, CORPUS / name):
            pass
    assert time.perf_counter() - started < 2.0
