"""The flows behind the deployments in prefect.yaml: what the Prefect UI's Run button starts. Each is a few lines
around `flows.phase.phase_run`'s body or the report, with parameters a person fills in a form. A worker runs
them in a fresh process in the checkout (pull step `set_working_directory`), with PHASELOG_HOME naming the
home. Retrying a failed flow run from the UI re-runs it with the same parameters: finished segments come back
Cached (tasks/training.py's cache key) and the broken one resumes from its last checkpoint."""
from pathlib import Path

from prefect import flow, get_client, get_run_logger
from prefect.runtime import flow_run

from phaselog.core.config import PhaseConfig, load_config
from phaselog.core.locks import hold_run
from phaselog.core.runs import resolve_home, run_record, slug
from phaselog.core.store import Store, use_config_store
from phaselog.flows.phase import phase_run
from phaselog.model.preflight import check_before_run, continuation
from phaselog.tasks.report import write_phase_report_task, write_report_task

REPO = Path(__file__).resolve().parents[1]
# the form's defaults: the demo phase, so Run with nothing changed trains something real in minutes
DEMO = load_config(REPO / "configs" / "demo.yaml")


def phase_run_id(config_name: str, run_id: str | None) -> str:
    # derived from the flow run's id, not the clock: a retry of this flow run must find the same run again
    return run_id or f"{slug(config_name)}-{flow_run.id[:8]}"


def start_phase(config: PhaseConfig, run_id: str | None, home: str | None) -> dict:
    """The body of `phaselog run` in a flow run of its own: checks first, then the phase's DAG in this flow run
    (`.fn`, not a subflow, so a retry of this flow run is a retry of the phase)."""
    run_id, home_dir = phase_run_id(config.name, run_id), resolve_home(home)
    check_before_run(config, run_id)
    use_config_store(config.store)  # a worker runs each flow run in a process of its own
    get_run_logger().info(f"phaselog run {run_id} in {home_dir}")
    # the UI's list of flow runs then reads like the store's runs (`phaselog run` names its flow run the same way)
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, name=run_id)
    with hold_run(home_dir / run_id, run_id):
        return phase_run.fn(config=config, run_id=run_id, home=str(home_dir))


@flow(name="phase")
def phase(config: PhaseConfig = DEMO, run_id: str | None = None, home: str | None = None) -> dict:
    """Run a phase from the form: every config section with its defaults and limits. run_id empty: the config's
    name and this flow run's id; home empty: $PHASELOG_HOME (set by `phaselog ui`)."""
    return start_phase(config, run_id, home)


@flow(name="phase-from-file")
def phase_from_file(config_path: str = "configs/demo.yaml", overrides: list[str] = [], run_id: str | None = None,
                    home: str | None = None) -> dict:
    """Run a phase from a config file in the checkout, with `--set`-style overrides such as train.end_step=2000."""
    return start_phase(load_config(REPO / config_path, overrides), run_id, home)


@flow(name="resume")
def resume(run_id: str, home: str | None = None) -> dict:
    """Carry on a failed, killed or stopped run from its last good checkpoint, with the config it started with."""
    record = run_record(Store(resolve_home(home)), run_id)
    return start_phase(PhaseConfig.model_validate_json(record["config_json"]), run_id, home)


@flow(name="continue")
def continue_run(parent_run: str, overrides: list[str] = [], config_path: str | None = None,
                 run_id: str | None = None, home: str | None = None) -> dict:
    """`phaselog continue` from the form: a new run in the parent's phase from its newest good checkpoint, with
    `--set`-style overrides such as self_play.prompt_version=v1.3 (and a config file of the checkout, if given).
    run_id empty: the config's name and this flow run's id, so a retry finds the same run again."""
    home_dir = resolve_home(home)
    config, _ = continuation(home_dir, parent_run, str(REPO / config_path) if config_path else None, overrides)
    return start_phase(config, run_id, home)


@flow(name="report")
def report(run_id: str = "", home: str | None = None, phase: str = "") -> dict:
    """Write the phase log of a run, or with `phase` of every run of that phase (markdown, HTML, charts), and
    publish it as a markdown artifact."""
    if phase:
        return write_phase_report_task(phase, str(resolve_home(home)))
    return write_report_task(run_id, str(resolve_home(home)))
