"""The phase flow: the DAG of one phase, in the order data flows. Each step is a task in `tasks/`."""
import time

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.runtime import flow_run

from phaselog.core.config import PhaseConfig
from phaselog.core.errors import TrainingDiverged
from phaselog.core.journal import drain_inbox
from phaselog.core.phases import parent_dir
from phaselog.core.runs import (RunPaths, check_same_config, finished_segment_analysis, mark_failed,
                                record_segment_analysis, register_run, run_record, save_config_file, set_status)
from phaselog.core.store import Store, writes_queued_when_held
from phaselog.flows.review import review_gate
from phaselog.model.device import pick_device, trains_bf16
from phaselog.model.flops import peak_flops
from phaselog.model.freezing import carry_frozen_units
from phaselog.tasks.data import check_data_quality_task, prepare_data_task
from phaselog.tasks.evaluation import evaluate_task
from phaselog.tasks.loops_bias import loops_bias_task
from phaselog.tasks.report import write_phase_report_task, write_report_task
from phaselog.tasks.self_play import check_prompts_task, self_play_task
from phaselog.tasks.training import record_segment_task, train_segment_task
from phaselog.tasks.understanding import understand_task


@flow(name="phase-run", flow_run_name="{run_id}")
def phase_run(config: PhaseConfig, run_id: str, home: str = "runs") -> dict:
    logger = get_run_logger()
    store = RunPaths.of(home, run_id).store
    # a notebook or BI tool holding the store, or a lake's catalog that is down, must not stop the run: its writes
    # wait on disk until the store is there again
    with writes_queued_when_held():
        result = phase_tasks(config, run_id, home, store, logger)
    if not store.drain_pending(attempts=1 if store.lake else 50):
        why = ("its catalog cannot be reached" if store.lake else
               f"another process holds {store.path}; readers see them already")
        logger.warning(f"the run's last results still wait in {store.home / 'inbox' / 'store'}: {why}, and "
                       f"`phaselog store drain --home {store.home}` (or the next write: a resume, a journal entry, "
                       "an open explore page) puts them in once it is free")
    return result


def analyse_segment_once(config: PhaseConfig, run_id: str, home: str, store: Store, index: int, start: int,
                         end: int) -> dict:
    """Evaluation, self-play, understanding, then loops and bias (which scans the reflections); returns what the
    review gate reads. A segment whose analysis finished before (a resumed run) is not analysed again."""
    logger = get_run_logger()
    if (findings := finished_segment_analysis(store, run_id, end)) is not None:
        logger.info(f"segment {index} [{start}, {end}): its analysis finished before; read from the store, not redone")
        return findings
    began = time.perf_counter()
    evaluate_task(config, run_id, home, end)
    self_play_task(config, run_id, home, index, start, end)
    understand_task(config, run_id, home, start, end)
    findings = loops_bias_task(config, run_id, home, start, end)
    record_segment_analysis(store, run_id, index, start, end, time.perf_counter() - began, flow_run.id, findings)
    return findings


def phase_tasks(config: PhaseConfig, run_id: str, home: str, store: Store, logger) -> dict:
    """The phase's tasks, in the order data flows."""
    store.migrate()
    run_dir = RunPaths.of(home, run_id).run_dir
    check_same_config(store, run_id, config, run_dir)  # before config.json is written over
    save_config_file(run_dir, config)
    if parent_dir(config):  # the units its parent froze stay frozen in a continued run
        carry_frozen_units(parent_dir(config), run_dir, config.train.start_step)
    device = pick_device(config.train.device)
    known = store.run_exists(run_id)
    peak = run_record(store, run_id)["peak_flops"] if known else peak_flops(device, trains_bf16(config))
    register_run(store, run_id, config, run_dir, str(device), peak)
    drain_inbox(store)  # journal entries the exploration server queued while no one could write
    try:
        data = prepare_data_task(config, run_id, home)
        check_data_quality_task(config, run_id, home, data["vocab_size"])
        check_prompts_task(config, run_id, home)
        segments = config.segments()
        progress = create_progress_artifact(0.0, description=f"segments of {run_id}")
        summaries = []
        for index, (start, end) in enumerate(segments):
            try:
                summary = train_segment_task(config, run_id, home, index, start, end, peak)
            except TrainingDiverged as err:
                # stopped before the bad update; pause_on health_critical asks a person instead of only failing
                if "health_critical" not in config.understanding.pause_on:
                    raise
                if not review_gate(config, run_id, home, {"step": err.step, "reasons": [], "description": ""}):
                    return {"run_id": run_id, "run_dir": str(run_dir), "stopped_at_step": err.step}
                # carry on: once more from the last good checkpoint; a second divergence fails the run
                summary = train_segment_task(config, run_id, home, index, start, end, peak)
            record_segment_task(run_id, home, index, summary)
            summaries.append(summary)
            drain_inbox(store)
            findings = analyse_segment_once(config, run_id, home, store, index, start, end)
            if not review_gate(config, run_id, home, findings):  # a finding that needs a person pauses or stops here
                return {"run_id": run_id, "run_dir": str(run_dir), "stopped_at_step": end}
            if not store.unreachable() and not store.run_exists(run_id):
                # the store was deleted under the run and its next write made it again, empty: the run's row and
                # every segment so far come back from the files (the rest of the earlier segments with a resume).
                # Not while a lake's catalog is down: the run's writes wait for it, and go in when it is back
                register_run(store, run_id, config, run_dir, str(device), peak)
                for done, earlier in enumerate(summaries):
                    record_segment_task(run_id, home, done, earlier)
            update_progress_artifact(progress, 100.0 * (index + 1) / len(segments))
    except BaseException:
        mark_failed(store, run_id)
        raise
    set_status(store, run_id, "completed")
    if store.unreachable():  # the phase log reads the whole run, and most of it is in the catalog
        logger.warning(f"no phase log for {run_id} yet: the store cannot be reached; once it is back, `phaselog "
                       f"store drain --home {home}` puts the run's last rows in and `phaselog report {run_id} "
                       f"--home {home}` writes it")
    else:
        write_report_task(run_id, home)
        if config.train.continue_from:  # a phase of several runs: its log tells them all
            write_phase_report_task(config.phase_name(), home)
    logger.info(f"run {run_id} completed: {run_dir}")
    return {"run_id": run_id, "run_dir": str(run_dir)}
