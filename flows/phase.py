"""The phase flow: the DAG of one phase, in the order data flows. Each step is a task in `tasks/`."""
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from model.flops import peak_flops
from model.train import pick_device
from phaselog.config import PhaseConfig
from phaselog.journal import drain_inbox
from phaselog.runs import register_run, run_record, save_config_file, set_status
from phaselog.store import Store
from tasks.data import check_data_quality_task, prepare_data_task
from tasks.evaluation import evaluate_task
from tasks.loops_bias import loops_bias_task, review_gate
from tasks.report import write_report_task
from tasks.self_play import check_prompts_task, self_play_task
from tasks.training import train_segment_task
from tasks.understanding import understand_task
from understanding.health import TrainingDiverged


@flow(name="phase-run", flow_run_name="{run_id}")
def phase_run(config: PhaseConfig, run_id: str, home: str = "runs") -> dict:
    logger = get_run_logger()
    store = Store(Path(home))
    store.migrate()
    run_dir = Path(home) / run_id
    save_config_file(run_dir, config)
    device = pick_device(config.train.device)
    known = store.run_exists(run_id)
    peak = run_record(store, run_id)["peak_flops"] if known else peak_flops(device)
    register_run(store, run_id, config, run_dir, str(device), peak)
    drain_inbox(store)  # journal entries the exploration server queued while no one could write
    try:
        data = prepare_data_task(config, run_id, home)
        check_data_quality_task(config, run_id, home, data["vocab_size"])
        check_prompts_task(config, run_id, home)
        segments = config.segments()
        progress = create_progress_artifact(0.0, description=f"segments of {run_id}")
        for index, (start, end) in enumerate(segments):
            try:
                train_segment_task(config, run_id, home, index, start, end, peak)
            except TrainingDiverged as err:
                # stopped before the bad update; pause_on health_critical asks a person instead of only failing
                if "health_critical" not in config.understanding.pause_on:
                    raise
                if not review_gate(config, run_id, home, {"step": err.step, "reasons": [], "description": ""}):
                    return {"run_id": run_id, "run_dir": str(run_dir), "stopped_at_step": err.step}
                # carry on: once more from the last good checkpoint; a second divergence fails the run
                train_segment_task(config, run_id, home, index, start, end, peak)
            drain_inbox(store)
            evaluate_task(config, run_id, home, end)
            self_play_task(config, run_id, home, index, start, end)
            understand_task(config, run_id, home, start, end)
            # after self-play: scans the segment's reflections; a finding that needs a person pauses or stops here
            if not review_gate(config, run_id, home, loops_bias_task(config, run_id, home, start, end)):
                return {"run_id": run_id, "run_dir": str(run_dir), "stopped_at_step": end}
            update_progress_artifact(progress, 100.0 * (index + 1) / len(segments))
    except BaseException:
        set_status(store, run_id, "failed")
        raise
    set_status(store, run_id, "completed")
    write_report_task(run_id, home)
    logger.info(f"run {run_id} completed: {run_dir}")
    return {"run_id": run_id, "run_dir": str(run_dir)}
