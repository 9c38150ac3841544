"""Data prep as a Prefect task: the logic is in `datasets.prepare`; this records its accounting in the store."""
from pathlib import Path

from prefect import get_run_logger, task

from datasets.prepare import prepare_data
from model.train import init_tokenizer_dir
from phaselog.runs import record_documents
from phaselog.store import Store


@task(name="prepare-data")
def prepare_data_task(config, run_id: str, home: str) -> dict:
    logger = get_run_logger()
    init_from = config.train.init_from
    reuse = init_tokenizer_dir(init_from, Path(home)) if init_from else None
    summary = prepare_data(config, Path(home) / run_id, reuse_tokenizer=reuse, log=logger.info)
    if not summary["cached"]:
        record_documents(Store(Path(home)), run_id, summary["documents"])
    return {"cached": summary["cached"], "vocab_size": summary["vocab_size"]}
