"""Data prep end to end: per-source caching, streamed shards, the Great Expectations suites, the recorded mix of a
real tiny run, and bad inputs refused through the command line with one line naming the file."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from phaselog.cli import main
from phaselog.core.config import PhaseConfig
from phaselog.core.store import Store
from phaselog.datasets.mixing import BatchSampler, MixEntry
from phaselog.datasets.prepare import prepare_data
from phaselog.datasets.quality import check_data_quality, failure_summary
from phaselog.datasets.shards import load_stream, shard_path
from phaselog.datasets.tokenizer import Tokenizer


def prose(topic: str, paragraphs: int = 12) -> str:
    return "\n\n".join(" ".join(f"The {topic} {p} says sentence {i} in its own plain words." for i in range(8))
                       for p in range(paragraphs))


def small_corpus(root):
    for name, topics in (("general", ["river", "market", "garden"]), ("philosophy", ["virtue", "reason"])):
        (root / name).mkdir(parents=True)
        for topic in topics:
            (root / name / f"{topic}.txt").write_text(prose(topic))
    return root


def small_config_dict(root, **data) -> dict:
    return {"name": "small", "data": {"corpus_dir": str(root), "chunk_chars": 600, "min_doc_chars": 100, **data,
                                      "sources": [{"name": "general", "path": "general"},
                                                  {"name": "philosophy", "path": "philosophy", "start_step": 20}]},
            "tokenizer": {"vocab_size": 300, "sample_chars": 3000}}


@pytest.fixture
def prepared(tmp_path):
    config = PhaseConfig.model_validate(small_config_dict(small_corpus(tmp_path / "corpus")))
    run_dir = tmp_path / "run"
    prepare_data(config, run_dir, log=lambda _: None)
    return config, run_dir


def test_adding_a_file_re_prepares_only_its_source(prepared):
    config, run_dir = prepared
    kept = shard_path(run_dir / "shards", "general", "train").stat().st_mtime_ns
    tokenizer = (run_dir / "tokenizer" / "tokenizer.json").read_bytes()
    (config.source_path(config.data.sources[1]) / "wisdom.txt").write_text(prose("wisdom"))
    summary = prepare_data(config, run_dir, log=lambda _: None)
    assert summary["prepared"] == ["philosophy"]
    assert (run_dir / "tokenizer" / "tokenizer.json").read_bytes() == tokenizer  # its sample came from earlier files
    assert shard_path(run_dir / "shards", "general", "train").stat().st_mtime_ns == kept
    docs = pq.read_table(shard_path(run_dir / "shards", "philosophy", "documents")).column("path").to_pylist()
    assert "wisdom.txt" in docs
    assert prepare_data(config, run_dir, log=lambda _: None)["cached"]


def test_tokenizer_training_sample_is_recorded(prepared):
    config, run_dir = prepared
    record = json.loads((run_dir / "tokenizer" / "training.json").read_text())
    # rustbpe stops early when a small sample has no more pairs to merge
    assert 256 < record["vocab_size"] <= 300 and record["pattern"]
    assert set(record["sample_chars"]) == {"general", "philosophy"}
    # weights 1:1, so each source gives about half of the 3000 characters (whole documents, so a little more)
    assert all(1500 <= chars < 1500 + 600 for chars in record["sample_chars"].values())


def test_shards_are_uint16_with_a_bos_per_document(prepared):
    config, run_dir = prepared
    table = pq.read_table(shard_path(run_dir / "shards", "general", "train"))
    assert table.schema.field("tokens").type == pa.list_(pa.uint16())
    stream = load_stream(run_dir / "shards", "general", "train")
    bos = Tokenizer.load(run_dir / "tokenizer").bos_id
    assert (stream == bos).sum() == table.num_rows
    documents = pq.read_table(shard_path(run_dir / "shards", "general", "documents")).to_pylist()
    assert sum(d["tokens"] for d in documents if d["split"] == "train") == len(stream)


def test_every_source_holds_out_a_val_document(prepared):
    config, run_dir = prepared
    for source in ("general", "philosophy"):
        assert pq.read_table(shard_path(run_dir / "shards", source, "val")).num_rows >= 1


def test_batches_are_the_same_after_a_resume(prepared):
    config, run_dir = prepared
    streams = {s.name: load_stream(run_dir / "shards", s.name, "train") for s in config.data.sources}
    mix = [MixEntry("general", 1.0, 0, None), MixEntry("philosophy", 0.5, 20, None)]
    first = [BatchSampler(streams, mix, 16, seed=7).batch(step, 0, 4) for step in (5, 25)]
    resumed = BatchSampler(dict(streams), mix, 16, seed=7)  # a fresh process after a resume
    for step, (inputs, targets, counts) in zip((5, 25), first):
        again = resumed.batch(step, 0, 4)
        assert np.array_equal(inputs, again[0]) and np.array_equal(targets, again[1]) and counts == again[2]
    assert "philosophy" not in first[0][2]


def test_quality_suites_pass_on_good_data_and_write_data_docs(prepared):
    config, run_dir = prepared
    rows = check_data_quality(config, run_dir, 300)
    assert rows and all(r["success"] for r in rows), [r for r in rows if not r["success"]]
    assert {r["suite"] for r in rows} == {"documents", "shards"}
    assert (run_dir / "data_docs" / "index.html").is_file()
    # a vocabulary smaller than the ids written: the summary names the expectation, the rows and examples
    summary = failure_summary(check_data_quality(config, run_dir, 200), run_dir / "data_docs")
    assert "shards: token ids < vocab size 200 failed" in summary
    assert " rows" in summary and "general/" in summary and "data_docs/index.html" in summary


# --- a real tiny run through the flow -----------------------------------------------------------------------

def test_philosophy_is_absent_before_its_start_step_and_near_its_weight_after(tiny_run):
    home, run_id, config = tiny_run
    _, rows = Store(home).query("SELECT segment_start, source, share FROM data_mix WHERE run_id = ? "
                                "ORDER BY segment_start, source", [run_id])
    shares = {(start, source): share for start, source, share in rows}
    assert shares.get((0, "philosophy"), 0.0) == 0.0 and shares[(0, "general")] == 1.0
    for start in (20, 40):  # weights 1.0 and 0.5: a third of the tokens, within sampling noise of 160 rows
        assert abs(shares[(start, "philosophy")] - 1 / 3) < 0.12


def test_tiny_run_records_documents_quality_and_tokenizer_sample(tiny_run):
    home, run_id, config = tiny_run
    store = Store(home)
    _, quality = store.query("SELECT suite, expectation, success FROM data_quality WHERE run_id = ?", [run_id])
    assert len(quality) >= 10 and all(success for _, _, success in quality)
    _, sample = store.query("SELECT source, sample_chars FROM tokenizer_training WHERE run_id = ?", [run_id])
    assert {source for source, _ in sample} == {"general", "philosophy"}
    _, docs = store.query("SELECT count(*), sum(tokens) FROM documents WHERE run_id = ? AND kept", [run_id])
    assert docs[0][0] > 50 and docs[0][1] > 10_000
    assert (home / run_id / "data_docs" / "index.html").is_file()


# --- bad inputs through the command line --------------------------------------------------------------------

def run_with(capsys, tmp_path, corpus, *extra, store_untouched=True):
    data = small_config_dict(corpus)
    data["data"]["sources"] = [{"name": "general", "path": "general"}]
    data["train"] = {"end_step": 2, "segment_steps": 2, "device": "cpu"}
    config = tmp_path / "phase.yaml"
    config.write_text(yaml.safe_dump(data))
    home = tmp_path / "home"
    code = main(["run", str(config), "--run-id", "bad", "--home", str(home), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    store = Store(home)
    if store_untouched and store.path.is_file():
        for table in ("documents", "data_mix", "metrics", "tokenizer_training"):
            assert store.query(f"SELECT count(*) FROM {table} WHERE run_id = 'bad'")[1] == [(0,)], table
    return code, err[-1] if err else ""


def corpus_with(tmp_path, name: str, content: bytes | None):
    (tmp_path / "corpus" / "general").mkdir(parents=True)
    (tmp_path / "corpus" / "general" / "good.txt").write_text(prose("river"))
    if content is not None:
        (tmp_path / "corpus" / "general" / name).write_bytes(content)
    return tmp_path / "corpus"


@pytest.mark.parametrize("name, content, message", [
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "image.txt is a binary file"),
    ("garbled.txt", ("caf\u00c3\u00a9 " * 200).encode(), "garbled.txt has"),
    ("rows.parquet", None, "rows.parquet has no column 'text'"),
    ("broken.parquet", b"PAR1 this is not parquet at all PAR1", "broken.parquet is not a readable parquet file"),
])
def test_bad_file_fails_the_run_with_one_line_naming_it(capsys, tmp_path, prefect_harness, name, content, message):
    corpus = corpus_with(tmp_path, name, content)
    if name == "rows.parquet":
        pq.write_table(pa.table({"body": [prose("x")]}), corpus / "general" / name)
    code, last = run_with(capsys, tmp_path, corpus)
    assert code == 2 and message in last and last.startswith("phaselog: error:")


def test_empty_directory_fails_naming_it(capsys, tmp_path, prefect_harness):
    (tmp_path / "corpus" / "general").mkdir(parents=True)
    code, last = run_with(capsys, tmp_path, tmp_path / "corpus")
    assert code == 2 and "general holds no files" in last


def test_zero_documents_after_filtering_fails_naming_the_source(capsys, tmp_path, prefect_harness):
    (tmp_path / "corpus" / "general").mkdir(parents=True)
    (tmp_path / "corpus" / "general" / "short.txt").write_text("Too short to train on.")
    code, last = run_with(capsys, tmp_path, tmp_path / "corpus")
    assert code == 2 and "no documents left" in last and "general" in last and "min_doc_chars" in last


def test_set_naming_a_source_that_does_not_exist_is_refused(capsys, tmp_path):
    code, last = run_with(capsys, tmp_path, corpus_with(tmp_path, "", None), "--set",
                          "data.sources.philosphy.weight=0.5")
    assert code == 2 and "no entry named 'philosphy'" in last and "general" in last


def test_garbled_rows_fail_the_quality_check_with_examples(capsys, tmp_path, prefect_harness):
    corpus = corpus_with(tmp_path, "rows.jsonl", "\n".join(
        json.dumps({"text": prose(f"topic{i}", 2) + " caf\u00c3\u00a9" * 40}) for i in range(4)).encode())
    code, last = run_with(capsys, tmp_path, corpus, store_untouched=False)
    assert code == 2 and "garbled-character share" in last and "general/rows.jsonl" in last
    _, rows = Store(tmp_path / "home").query("SELECT count(*) FROM data_quality WHERE run_id = 'bad' AND NOT success")
    assert rows[0][0] >= 1
