"""Data prep as Prefect tasks: the logic is in `datasets.prepare` and `datasets.quality`; these record the
accounting, the tokenizer's training sample and the quality results in the store."""
import json

from prefect import get_run_logger, task

from phaselog.core.errors import DataError
from phaselog.core.runs import RunPaths, record_data_quality, record_documents, record_tokenizer_training
from phaselog.datasets.prepare import TOKENIZER_RECORD, prepare_data, read_documents
from phaselog.datasets.quality import check_data_quality, failure_summary
from phaselog.datasets.tokenizer import init_tokenizer_dir


@task(name="prepare-data")
def prepare_data_task(config, run_id: str, home: str) -> dict:
    logger = get_run_logger()
    # a continued run reuses its parent's tokenizer and, for unchanged sources, its shards
    init_from = config.train.continue_from or config.train.init_from
    paths = RunPaths.of(home, run_id)
    reuse = init_tokenizer_dir(init_from, paths.home) if init_from else None
    run_dir, store = paths.run_dir, paths.store
    parent_shards = reuse.parent / "shards" if config.train.continue_from else None
    summary = prepare_data(config, run_dir, reuse_tokenizer=reuse, reuse_shards=parent_shards, log=logger.info)
    # recorded every time, from the files: a resume after a crash between prep and this line still fills the store
    record_documents(store, run_id, read_documents(run_dir, config))
    training = json.loads((run_dir / "tokenizer" / TOKENIZER_RECORD).read_text())
    record_tokenizer_training(store, run_id, training)
    return {"cached": summary["cached"], "prepared": summary["prepared"], "vocab_size": summary["vocab_size"]}


@task(name="check-data-quality")
def check_data_quality_task(config, run_id: str, home: str, vocab_size: int) -> int:
    """Great Expectations over documents and shards; a failed expectation fails the run with a summary."""
    paths = RunPaths.of(home, run_id)
    run_dir = paths.run_dir
    rows = check_data_quality(config, run_dir, vocab_size)
    record_data_quality(paths.store, run_id, rows)
    summary = failure_summary(rows, run_dir / "data_docs")
    if summary:
        raise DataError(summary)
    get_run_logger().info(f"data quality: {len(rows)} expectations passed; data docs in {run_dir / 'data_docs'}")
    return len(rows)
