"""A CORE-style task bundle, read from a directory in the DCLM/nanochat layout:

    core.yaml            icl_tasks: [{label, dataset_uri, num_fewshot: [k], icl_task_type, continuation_delimiter}]
    eval_data/*.jsonl    one item per line: multiple_choice {query, choices, gold},
                         schema {context_options, continuation, gold}, language_modeling {context, continuation}
    eval_meta_data.csv   columns "Eval Task" and "Random baseline" (in percent, as DCLM writes it)

Every problem a user can cause (a missing file, a malformed line, an unknown task type) is a PhaselogError
naming the file, and the line where there is one."""
import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from phaselog.core.errors import PhaselogError

REPO = Path(__file__).resolve().parents[1]
# the fields each task type's items must carry
ITEM_FIELDS = {
    "multiple_choice": ("query", "choices", "gold"),
    "schema": ("context_options", "continuation", "gold"),
    "language_modeling": ("context", "continuation"),
}


@dataclass(frozen=True)
class CoreTask:
    label: str
    task_type: str
    num_fewshot: int
    delimiter: str
    baseline: float  # random-guess accuracy as a fraction in [0, 1)
    items: list[dict]


def resolve_bundle(path: str) -> Path:
    """An absolute path as it is; a relative one against the current directory, else the phaselog checkout
    (so the shipped `evals/core_mini` is found from anywhere)."""
    candidate = Path(os.path.expanduser(path))
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return REPO / candidate


def read_yaml_tasks(path: Path) -> list[dict]:
    if not path.is_file():
        raise PhaselogError(f"{path}: the bundle's task list is missing (expected core.yaml with icl_tasks)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise PhaselogError(f"{path}: not valid YAML: {err}") from None
    tasks = raw.get("icl_tasks") if isinstance(raw, dict) else None
    if not isinstance(tasks, list) or not tasks:
        raise PhaselogError(f"{path}: expected a non-empty list under icl_tasks")
    for n, task in enumerate(tasks):
        missing = [k for k in ("label", "dataset_uri", "icl_task_type") if not isinstance(task, dict) or k not in task]
        if missing:
            raise PhaselogError(f"{path}: icl_tasks[{n}] lacks {', '.join(missing)}")
        if task["icl_task_type"] not in ITEM_FIELDS:
            raise PhaselogError(f"{path}: icl_tasks[{n}] ({task['label']}): unknown icl_task_type "
                                f"{task['icl_task_type']!r}; use one of {', '.join(ITEM_FIELDS)}")
    return tasks


def read_baselines(path: Path) -> dict[str, float]:
    if not path.is_file():
        raise PhaselogError(f"{path}: the bundle's random-baseline table is missing (eval_meta_data.csv)")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    baselines = {}
    for line, row in enumerate(rows, start=2):
        try:
            baselines[row["Eval Task"]] = float(row["Random baseline"]) / 100
        except (KeyError, TypeError, ValueError):
            raise PhaselogError(f"{path}, line {line}: expected an 'Eval Task' and a numeric 'Random baseline' "
                                "(percent)") from None
    return baselines


def read_items(path: Path, task_type: str) -> list[dict]:
    if not path.is_file():
        raise PhaselogError(f"{path}: task data file is missing (named by dataset_uri in core.yaml)")
    items = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            item = json.loads(text)
        except json.JSONDecodeError as err:
            raise PhaselogError(f"{path}, line {line}: not valid JSON ({err.msg})") from None
        missing = [k for k in ITEM_FIELDS[task_type] if not isinstance(item, dict) or k not in item]
        if missing:
            raise PhaselogError(f"{path}, line {line}: a {task_type} item needs {', '.join(missing)}")
        items.append(item)
    if not items:
        raise PhaselogError(f"{path}: no items")
    return items


def load_bundle(path: str | Path) -> list[CoreTask]:
    root = resolve_bundle(str(path))
    if not root.is_dir():
        raise PhaselogError(f"evaluation bundle {root} does not exist (set evaluation.bundle to a bundle directory)")
    baselines = read_baselines(root / "eval_meta_data.csv")
    tasks = []
    for spec in read_yaml_tasks(root / "core.yaml"):
        label = spec["label"]
        if label not in baselines:
            raise PhaselogError(f"{root / 'eval_meta_data.csv'}: no random baseline for task {label!r}")
        fewshot = spec.get("num_fewshot", [0])
        tasks.append(CoreTask(
            label=label, task_type=spec["icl_task_type"],
            num_fewshot=int(fewshot[0] if isinstance(fewshot, list) else fewshot),
            delimiter=spec.get("continuation_delimiter", " "), baseline=baselines[label],
            items=read_items(root / "eval_data" / spec["dataset_uri"], spec["icl_task_type"])))
    return tasks
