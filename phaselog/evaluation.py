"""Evaluating a checkpoint where the config says (in this process, or in a fresh one that cannot take the run
down with it), and recording the result: figures in `evals`, skipped tasks in `eval_skips`. Called from the
flow process (the evaluate task) and from `phaselog eval`, the store's only writers."""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from phaselog.runs import record_evals
from phaselog.store import Store, now

REPO = Path(__file__).resolve().parents[1]


def evaluate_in_subprocess(run_dir: Path, step: int) -> dict:
    """`python -m model.evaluate` on the saved checkpoint; if that process dies (the kernel's OOM killer, a
    driver fault), the whole evaluation is reported as skipped and the caller carries on."""
    with tempfile.TemporaryDirectory(prefix="phaselog-eval-") as tmp:
        out = Path(tmp) / "result.json"
        done = subprocess.run([sys.executable, "-m", "model.evaluate", str(run_dir), str(step), str(out)],
                              cwd=REPO, capture_output=True, text=True)
        if done.returncode == 0 and out.is_file():
            return json.loads(out.read_text())
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"values": {}, "examples": 0,
            "skipped": [{"task": "*", "reason": f"evaluation process exited with {done.returncode}: {tail}"[:500]}]}


def run_evaluation(run_dir: Path, config, step: int) -> dict:
    if config.evaluation.process == "subprocess":
        return evaluate_in_subprocess(Path(run_dir), step)
    from model.evaluate import evaluate_checkpoint

    return evaluate_checkpoint(Path(run_dir), config, step)


def record_evaluation(store: Store, run_id: str, step: int, result: dict) -> None:
    record_evals(store, run_id, step, result["values"])
    skips = [{"run_id": run_id, "step": step, "task": s["task"], "reason": s["reason"], "recorded_at": now()}
             for s in result["skipped"]]
    # a re-evaluation of the step replaces the earlier verdicts: a task that now runs is no longer skipped
    store.replace_rows("eval_skips", skips, "run_id = ? AND step = ?", [run_id, step])
