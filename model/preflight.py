"""The checks a run passes before anything starts, the same for `phaselog run`, `resume` and `review` and for the
deployments the Prefect UI starts: a run id that can name a folder, sources that exist, prompts that fit the
model's context. Each failure is one sentence naming the field."""
from phaselog.core.errors import PhaselogError
from phaselog.core.runs import check_run_id
from phaselog.model.prompts import check_prompts_fit


def check_sources_exist(config) -> None:
    for source in config.data.sources:
        path = config.source_path(source)
        if not path.exists():
            raise PhaselogError(f"data.sources[{source.name}]: corpus path {path} does not exist "
                                "(set data.corpus_dir or $PHASELOG_CORPUS)")


def check_before_run(config, run_id: str) -> None:
    check_run_id(run_id)
    check_sources_exist(config)
    check_prompts_fit(config)
