"""The checks a run passes before anything starts, the same for `phaselog run`, `resume` and `review` and for the
deployments the Prefect UI starts: a run id that can name a folder, sources that exist, prompts that fit the
model's context, a precision the device computes natively (model/device.py), a micro-batch that fits
the device's memory (model/memory.py). Also the config of a run that
continues another (`phaselog continue`, the `continue` deployment). Each failure is one sentence naming the
field."""
from pathlib import Path

import yaml

from phaselog.core.config import PhaseConfig, load_config
from phaselog.core.errors import DataError, PhaselogError
from phaselog.core.locks import trainer_of
from phaselog.core.phases import continuation_config
from phaselog.core.runs import check_run_id, run_record
from phaselog.core.store import Store
from phaselog.datasets.sources import source_files
from phaselog.model.checkpoint import latest_good_checkpoint
from phaselog.model.device import check_precision
from phaselog.model.memory import available_memory, check_fits
from phaselog.model.prompts import check_prompts_fit


def check_sources_exist(config) -> None:
    """What is cheap to check before Prefect starts: each source's path and the files it would read."""
    for source in config.data.sources:
        path = config.source_path(source)
        if not path.exists():
            raise PhaselogError(f"data.sources[{source.name}]: corpus path {path} does not exist "
                                "(set data.corpus_dir or $PHASELOG_CORPUS)")
        try:
            source_files(path, source.format)
        except DataError as err:
            raise PhaselogError(f"data.sources[{source.name}]: {err}") from None


def check_before_run(config, run_id: str) -> None:
    check_run_id(run_id)
    check_sources_exist(config)
    check_prompts_fit(config)
    check_precision(config)
    check_fits(config, available_memory(config.train.device))


def continuation(home: Path, parent_run: str, config_file: str | None, overrides: list[str]):
    """The config of a run continuing `parent_run` from its newest good checkpoint (phaselog/core/phases.py)."""
    parent = PhaseConfig.model_validate_json(run_record(Store(home), parent_run)["config_json"])
    if (pid := trainer_of(home / parent_run)) is not None:
        # its newest checkpoint may be mid-segment, and its own rotation would delete it under the continuation
        raise PhaselogError(f"run {parent_run} is still training (pid {pid}): continue it once it has ended")
    found = latest_good_checkpoint(home / parent_run / "checkpoints")
    if found is None:
        raise PhaselogError(f"run {parent_run} has no good checkpoint under {home / parent_run / 'checkpoints'} "
                            "to continue from")
    raw = None
    if config_file:
        load_config(config_file)  # the file's own errors first, named as in `phaselog run`
        raw = yaml.safe_load(Path(config_file).read_text())
    origin = config_file or f"phaselog continue {parent_run}"
    return continuation_config(parent, found.path, found.step, raw, overrides, origin), found.step
