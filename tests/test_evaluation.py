"""Evaluation: val bpb as the design defines it, CORE-style tasks scored by continuation log-likelihoods, the
out-of-memory back-off, bundle errors, `phaselog eval`, and the rows the tiny run leaves at segment ends."""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from phaselog.core.errors import PhaselogError
from phaselog.datasets.tokenizer import Tokenizer
from phaselog.model.core_bundle import CoreTask, load_bundle
from phaselog.model.core_eval import centered, evaluate_core, score_rows
from phaselog.model.evaluate import bits_per_byte
from phaselog.model.gpt import GPT, GPTShape

CPU = torch.device("cpu")
SHIPPED = load_bundle("evals/core_mini")


@pytest.fixture(scope="module")
def tokenizer():
    texts = [json.dumps(t.items) for t in SHIPPED] * 20
    return Tokenizer.train(texts, 400)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    m = GPT(GPTShape(tokenizer.vocab_size, 1, 32, 1, 48))
    m.init_weights(0)
    # a head of ordinary size: the init's near-zero head makes every continuation equally likely
    with torch.no_grad():
        m.lm_head.weight.normal_(0, 1)
    return m.eval()


def write_bundle(root: Path, tasks: dict[str, tuple[str, float, list[dict]]]) -> Path:
    """tasks: label -> (task type, baseline percent, items)."""
    (root / "eval_data").mkdir(parents=True)
    lines = ["Eval Task,Random baseline"]
    specs = []
    for label, (task_type, baseline, items) in tasks.items():
        (root / "eval_data" / f"{label}.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
        lines.append(f"{label},{baseline}")
        specs.append(f"- label: {label}\n  dataset_uri: {label}.jsonl\n  num_fewshot: [0]\n"
                     f"  icl_task_type: {task_type}\n  continuation_delimiter: ' '\n")
    (root / "eval_meta_data.csv").write_text("\n".join(lines) + "\n")
    (root / "core.yaml").write_text("icl_tasks:\n" + "".join(specs))
    return root


def test_centered_accuracy_and_core_on_a_hand_computable_case():
    assert centered(0.5, 0.25) == pytest.approx(1 / 3)
    assert centered(0.25, 0.25) == 0
    assert centered(1.0, 0.5) == 1
    tasks = {t.label: t for t in SHIPPED}
    # the table holds percent, as DCLM's does
    assert tasks["word_order"].baseline == 0.25 and tasks["philosophy_statements"].baseline == 0.5
    assert tasks["function_words"].baseline == 0.0


def manual_mean_loss(model, tokenizer, context: str, continuation: str) -> float:
    """Mean cross-entropy of the continuation's tokens, one unpadded sequence, computed from the logits."""
    ids = [tokenizer.bos_id] + tokenizer.encode(context)
    full = [tokenizer.bos_id] + tokenizer.encode(context + continuation)
    assert full[:len(ids)] == ids
    logits = model(torch.tensor([full]))[0]
    logp = F.log_softmax(logits.float(), dim=-1)
    return -float(np.mean([logp[p - 1, full[p]].item() for p in range(len(ids), len(full))]))


def test_multiple_choice_picks_the_lowest_mean_continuation_loss(model, tokenizer):
    query, choices = "She opened the door", ["and went out into the garden.", "the and garden.", "out into went"]
    losses = [manual_mean_loss(model, tokenizer, query, " " + c) for c in choices]
    best = losses.index(min(losses))
    other = (best + 1) % len(choices)
    items = [{"query": query, "choices": choices, "gold": best}, {"query": query, "choices": choices, "gold": other}]
    task = CoreTask("mc", "multiple_choice", 0, " ", 0.25, items)
    result = evaluate_core(model, tokenizer, [task], CPU)
    # one item names the manual winner as gold, the other does not: exactly half right
    assert result.values["acc/mc"] == 0.5
    assert result.values["core/mc"] == pytest.approx(centered(0.5, 0.25))
    assert result.values["core"] == result.values["core/mc"]
    # and the padded batch reproduces the manual per-choice losses themselves
    prompts = [f"{query} {c}" for c in choices]
    tokens = [[tokenizer.bos_id] + tokenizer.encode(p) for p in prompts]
    start = len([tokenizer.bos_id] + tokenizer.encode(query))
    scores, _ = score_rows(model, [(t, start, len(t)) for t in tokens], tokenizer.bos_id, CPU, 8)
    assert [s for s, _ in scores] == pytest.approx(losses, abs=1e-5)


def out_of_memory_above(limit_rows: int = 10**9, limit_tokens: int = 10**9, calls: list | None = None):
    """A model call that fails like a full GPU once a batch is larger than the limits."""
    def forward(ids):
        if calls is not None:
            calls.append(ids.shape[0])
        if ids.shape[0] > limit_rows or ids.shape[1] > limit_tokens:
            raise torch.OutOfMemoryError(f"CUDA out of memory (injected: batch {tuple(ids.shape)})")
        return forward.model(ids)
    return forward


def test_out_of_memory_halves_the_batch_and_gives_the_same_scores(model, tokenizer):
    calls = []
    forward = out_of_memory_above(limit_rows=3, calls=calls)
    forward.model = model
    squeezed = evaluate_core(model, tokenizer, SHIPPED, CPU, max_items=8, batch_size=16, forward=forward)
    roomy = evaluate_core(model, tokenizer, SHIPPED, CPU, max_items=8, batch_size=16)
    # the first task has 8 rows: 8 fails, 4 fails, 2 fits and stays for every later task
    assert calls[:3] == [8, 4, 2] and set(calls[3:]) == {2}
    assert squeezed.batch_size == 2 and not squeezed.skipped
    assert squeezed.values == pytest.approx(roomy.values)


def test_a_task_that_runs_out_of_memory_at_batch_one_is_skipped_and_the_rest_still_run(model, tokenizer, tmp_path):
    short = [{"context": "I am", "continuation": "sure"}] * 4
    long = [{"query": "She opened the door and went out into the garden where the old man",
             "choices": ["sat by the fire.", "fire the by sat."], "gold": 0}] * 4
    tasks = load_bundle(write_bundle(tmp_path / "b", {"short": ("language_modeling", 0, short),
                                                       "long": ("multiple_choice", 50, long)}))
    forward = out_of_memory_above(limit_tokens=10)
    forward.model = model
    result = evaluate_core(model, tokenizer, tasks, CPU, batch_size=4, forward=forward)
    assert [s["task"] for s in result.skipped] == ["long"]
    assert "out of memory at batch size 1" in result.skipped[0]["reason"]
    assert "acc/long" not in result.values and "acc/short" in result.values
    assert result.values["core"] == result.values["core/short"]


def test_an_error_that_is_not_out_of_memory_is_not_swallowed(model, tokenizer):
    def broken(ids):
        raise RuntimeError("shape mismatch")
    with pytest.raises(RuntimeError, match="shape mismatch"):
        evaluate_core(model, tokenizer, SHIPPED[:1], CPU, max_items=2, forward=broken)


def test_bundle_with_a_malformed_line_names_the_file_and_line(tmp_path):
    items = [{"context": "a", "continuation": "b"}]
    root = write_bundle(tmp_path / "b", {"lm": ("language_modeling", 0, items)})
    with open(root / "eval_data" / "lm.jsonl", "a") as f:
        f.write('{"context": "a", "continuation": \n')
    with pytest.raises(PhaselogError, match=r"lm\.jsonl, line 2: not valid JSON"):
        load_bundle(root)
    (root / "eval_data" / "lm.jsonl").write_text('{"context": "a"}\n')
    with pytest.raises(PhaselogError, match=r"lm\.jsonl, line 1: a language_modeling item needs continuation"):
        load_bundle(root)


def test_bundle_with_a_missing_file_names_the_file(tmp_path):
    root = write_bundle(tmp_path / "b", {"lm": ("language_modeling", 0, [{"context": "a", "continuation": "b"}])})
    (root / "eval_data" / "lm.jsonl").unlink()
    with pytest.raises(PhaselogError, match=r"eval_data/lm\.jsonl: task data file is missing"):
        load_bundle(root)
    (root / "eval_meta_data.csv").unlink()
    with pytest.raises(PhaselogError, match=r"eval_meta_data\.csv: the bundle's random-baseline table is missing"):
        load_bundle(root)
    with pytest.raises(PhaselogError, match="does not exist"):
        load_bundle(tmp_path / "nowhere")


def test_val_bpb_divides_all_target_nats_by_the_bytes_with_bos_counting_zero(model, tokenizer):
    ids = tokenizer.encode("She opened the door and went out into the garden. The old man looked up. " * 3)
    stream = np.array([tokenizer.bos_id] + ids[:20] + [tokenizer.bos_id] + ids[20:], dtype=np.int64)
    seq_len = model.shape.seq_len
    token_bytes = tokenizer.token_bytes()
    bpb, n_bytes = bits_per_byte(model, stream, token_bytes, max_tokens=seq_len)
    window = torch.tensor(stream[:seq_len + 1])[None]
    nats = model(window[:, :-1], window[:, 1:], reduction="none").sum().item()
    expected_bytes = int(token_bytes[window[0, 1:]].sum())
    assert n_bytes == expected_bytes
    assert bpb == pytest.approx(nats / (math.log(2) * expected_bytes), rel=1e-6)


def test_val_bpb_backs_off_on_out_of_memory_and_gives_the_same_figure(model, tokenizer):
    ids = tokenizer.encode("The old man looked up from his book and smiled at the garden. " * 40)
    stream = np.array([tokenizer.bos_id] + ids, dtype=np.int64)
    token_bytes = tokenizer.token_bytes()
    sizes = []

    def forward(inputs, targets, reduction):
        sizes.append(inputs.shape[0])
        if inputs.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return model(inputs, targets, reduction=reduction)

    roomy = bits_per_byte(model, stream, token_bytes, max_tokens=8 * model.shape.seq_len, batch_size=8)
    squeezed = bits_per_byte(model, stream, token_bytes, max_tokens=8 * model.shape.seq_len, batch_size=8,
                             forward=forward)
    assert sizes[:3] == [8, 4, 2] and set(sizes[3:]) == {2}
    assert squeezed[1] == roomy[1]
    assert squeezed[0] == pytest.approx(roomy[0], rel=1e-6)


def test_tiny_run_has_val_bpb_and_core_rows_at_every_segment_end(tiny_run):
    from phaselog.core.store import Store

    home, run_id, config = tiny_run
    store = Store(home)
    _, ends = store.query("SELECT end_step FROM segments WHERE run_id = ? ORDER BY end_step", [run_id])
    assert [e for (e,) in ends] == [end for _, end in config.segments()]
    labels = [t.label for t in SHIPPED]
    for (end,) in ends:
        _, rows = store.query("SELECT name, value FROM evals WHERE run_id = ? AND step = ?", [run_id, end])
        values = dict(rows)
        assert {"val_bpb", "core"} | {f"acc/{t}" for t in labels} | {f"core/{t}" for t in labels} <= set(values)
        assert all(0 <= values[f"acc/{t}"] <= 1 for t in labels)
        assert values["core"] == pytest.approx(np.mean([values[f"core/{t}"] for t in labels]))
    _, skips = store.query("SELECT count(*) FROM eval_skips WHERE run_id = ?", [run_id])
    assert skips == [(0,)]


def test_phaselog_eval_reevaluates_a_saved_checkpoint_and_names_missing_steps(tiny_run, tmp_path, capsys):
    from phaselog.cli import main
    from phaselog.core.store import Store

    home, run_id, config = tiny_run
    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns(".prefect"))
    step = config.segments()[0][1]
    before = dict(Store(copy).query("SELECT name, value FROM evals WHERE run_id = ? AND step = ?", [run_id, step])[1])
    assert main(["eval", run_id, "--step", str(step), "--home", str(copy), "--format", "json"]) == 0
    printed = {r["name"]: r["value"] for r in json.loads(capsys.readouterr().out)}
    after = dict(Store(copy).query("SELECT name, value FROM evals WHERE run_id = ? AND step = ?", [run_id, step])[1])
    # the same checkpoint, evaluated later in another process, gives the figures the flow recorded
    assert printed == pytest.approx({k: after[k] for k in printed})
    assert printed == pytest.approx({k: before[k] for k in printed})
    assert main(["eval", run_id, "--step", "7", "--home", str(copy)]) == 2
    assert "no good checkpoint at step 7" in capsys.readouterr().err


def test_subprocess_evaluation_matches_and_a_dead_process_is_a_recorded_skip(tiny_run, tmp_path):
    from phaselog.core.store import Store
    from phaselog.model.evaluate import evaluate_in_subprocess

    home, run_id, config = tiny_run
    step = config.segments()[0][1]
    apart = evaluate_in_subprocess(home / run_id, step)
    # the flow evaluated in its own process: a fresh process on the saved checkpoint agrees
    here = dict(Store(home).query("SELECT name, value FROM evals WHERE run_id = ? AND step = ?", [run_id, step])[1])
    assert apart["values"] == pytest.approx({k: here[k] for k in apart["values"]}) and not apart["skipped"]
    failed = evaluate_in_subprocess(home / run_id, 7)
    assert failed["values"] == {} and failed["skipped"][0]["task"] == "*"
    assert "exited with" in failed["skipped"][0]["reason"]
