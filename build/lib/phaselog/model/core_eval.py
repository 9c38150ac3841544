"""CORE-style evaluation (the DCLM metric, scored as nanochat and llm-foundry score it).

- multiple_choice: the same context, one continuation per choice; the model picks the choice whose continuation
  has the lowest MEAN per-token cross-entropy (not the sum, so long choices are not penalised for their length).
- schema: one context per option, the same continuation; the option under which the continuation has the
  lowest mean cross-entropy wins.
- language_modeling: correct when greedy (argmax) decoding reproduces every continuation token exactly.
Few-shot examples are other items of the task (seeded per item), joined by a blank line; every prompt starts with
BOS, as training documents do. Accuracy per task, centered accuracy (acc - baseline) / (1 - baseline), and CORE
as the mean centered accuracy over the tasks that ran.

Memory: rows (one prompt each) go through the model in batches; on an out-of-memory error the batch is halved
and retried down to one row, and the smaller size is kept for the rest of the evaluation. A task that fails even
at one row is reported as skipped, with the reason, and the other tasks still run."""
import gc
import random
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from phaselog.model.core_bundle import CoreTask


@dataclass
class CoreResult:
    values: dict[str, float] = field(default_factory=dict)  # core, core/<task>, acc/<task>
    skipped: list[dict] = field(default_factory=list)  # {"task", "reason"}
    examples: int = 0
    batch_size: int = 0


def is_out_of_memory(err: BaseException) -> bool:
    # CUDA raises OutOfMemoryError; the CPU allocator and MPS raise plain RuntimeErrors with these words
    text = str(err)
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text))


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def centered(accuracy: float, baseline: float) -> float:
    return (accuracy - baseline) / (1 - baseline)


def render_prompts(task: CoreTask, item: dict, shots: list[dict]) -> list[str]:
    """The prompts of one item: one per choice (multiple choice), per context option (schema), or the prompt
    without and with the continuation (language modelling)."""
    d = task.delimiter
    if task.task_type == "multiple_choice":
        prefix = "".join(f"{s['query']}{d}{s['choices'][s['gold']]}\n\n" for s in shots)
        return [f"{prefix}{item['query']}{d}{choice}" for choice in item["choices"]]
    if task.task_type == "schema":
        prefix = "".join(f"{s['context_options'][s['gold']]}{d}{s['continuation']}\n\n" for s in shots)
        return [f"{prefix}{context}{d}{item['continuation']}" for context in item["context_options"]]
    prefix = "".join(f"{s['context'].strip()}{d}{s['continuation']}\n\n" for s in shots)
    # stripped, so a trailing space is not left out here and merged into the continuation's first token there
    without = f"{prefix}{item['context'].strip()}{d}".strip()
    return [without, f"{prefix}{item['context'].strip()}{d}{item['continuation']}"]


def common_length(sequences: list[list[int]], from_end: bool = False) -> int:
    n = 0
    shortest = min(len(s) for s in sequences)
    while n < shortest and len({s[-1 - n] if from_end else s[n] for s in sequences}) == 1:
        n += 1
    return n


def item_rows(task: CoreTask, tokens: list[list[int]], seq_len: int) -> list[tuple[list[int], int, int]]:
    """(tokens, start, end) per row: tokens[start:end] is the continuation that is scored."""
    if task.task_type == "multiple_choice":
        # choices share the context; each row's continuation starts where the token sequences first differ
        start = min(common_length(tokens), min(len(t) for t in tokens) - 1)
        spans = [(t, start, len(t)) for t in tokens]
    elif task.task_type == "schema":
        suffix = min(common_length(tokens, from_end=True), min(len(t) for t in tokens) - 1)
        spans = [(t, len(t) - suffix, len(t)) for t in tokens]
    else:
        without, with_continuation = tokens
        spans = [(with_continuation, common_length([without, with_continuation]), len(with_continuation))]
    rows = []
    for t, start, end in spans:
        # too long for the model's context: keep the last seq_len tokens; at least one token stays before the
        # continuation, so a continuation longer than the context is scored on its tail
        crop = max(0, len(t) - seq_len)
        rows.append((t[crop:], max(1, start - crop), end - crop))
    return rows


def score_batch(forward, rows, pad_id: int, device) -> list[tuple[float, bool]]:
    """(mean cross-entropy of the continuation, whether greedy decoding reproduces it) per row."""
    ids = torch.full((len(rows), max(len(t) for t, _, _ in rows)), pad_id, dtype=torch.long)
    for i, (t, _, _) in enumerate(rows):
        ids[i, :len(t)] = torch.tensor(t, dtype=torch.long)
    ids = ids.to(device)
    logits = forward(ids)[:, :-1]
    losses = F.cross_entropy(logits.transpose(1, 2).float(), ids[:, 1:], reduction="none")
    greedy = logits.argmax(dim=-1)
    scores = []
    for i, (_, start, end) in enumerate(rows):
        # position p predicts token p + 1, so the continuation tokens[start:end] is predicted at start-1..end-2
        span = slice(start - 1, end - 1)
        scores.append((losses[i, span].mean().item(), bool((greedy[i, span] == ids[i, start:end]).all())))
    return scores


def score_rows(forward, rows, pad_id: int, device, batch_size: int) -> tuple[list[tuple[float, bool]], int]:
    """Scores of all rows and the batch size that worked; halves the batch on out-of-memory, down to 1."""
    scores, i = [], 0
    while i < len(rows):
        chunk = rows[i:i + batch_size]
        try:
            scores.extend(score_batch(forward, chunk, pad_id, device))
            i += len(chunk)
            continue
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_out_of_memory(err) or len(chunk) == 1:
                raise
        # freed outside the except block: the traceback would keep the failed batch's tensors alive
        free_memory()
        # halve what was actually tried: a last, short chunk may have been smaller than the batch size
        batch_size = max(1, len(chunk) // 2)
    return scores, batch_size


def task_items(task: CoreTask, max_items: int | None) -> list[dict]:
    # shuffled once with a fixed seed: bundles are often sorted, and max_items should take a fair sample
    items = list(task.items)
    random.Random(1337).shuffle(items)
    return items[:max_items] if max_items else items


@torch.no_grad()
def task_accuracy(forward, tokenizer, task: CoreTask, seq_len: int, device, max_items: int | None,
                  batch_size: int) -> tuple[float, int, int]:
    """Accuracy on the task, items scored, and the batch size that worked."""
    items = task_items(task, max_items)
    rows, owners = [], []
    for n, item in enumerate(items):
        others = [i for i in range(len(items)) if i != n]
        shots = [items[i] for i in random.Random(1234 + n).sample(others, min(task.num_fewshot, len(others)))]
        prompts = render_prompts(task, item, shots)
        tokens = [[tokenizer.bos_id] + ids for ids in tokenizer.encode_batch(prompts)]
        for row in item_rows(task, tokens, seq_len):
            rows.append(row)
            owners.append(n)
    scores, batch_size = score_rows(forward, rows, tokenizer.bos_id, device, batch_size)
    correct = 0
    for n, item in enumerate(items):
        mine = [s for s, owner in zip(scores, owners) if owner == n]
        if task.task_type == "language_modeling":
            correct += mine[0][1]
        else:
            losses = [loss for loss, _ in mine]
            correct += losses.index(min(losses)) == item["gold"]
    return correct / len(items), len(items), batch_size


def evaluate_core(model, tokenizer, tasks: list[CoreTask], device, max_items: int | None = None,
                  batch_size: int = 32, forward=None) -> CoreResult:
    """Every task of the bundle; `forward(ids) -> logits` defaults to the model (tests pass a wrapper that
    fails like a full GPU would)."""
    forward = forward or model
    was_training = model.training
    model.eval()
    result = CoreResult(batch_size=batch_size)
    for task in tasks:
        try:
            accuracy, n, result.batch_size = task_accuracy(forward, tokenizer, task, model.shape.seq_len, device,
                                                           max_items, result.batch_size)
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_out_of_memory(err):
                raise
            result.skipped.append({"task": task.label, "reason": f"out of memory at batch size 1: {err}"[:500]})
            result.batch_size = 1
            continue
        finally:
            free_memory()
        result.examples += n
        result.values[f"acc/{task.label}"] = accuracy
        result.values[f"core/{task.label}"] = centered(accuracy, task.baseline)
    scored = [v for k, v in result.values.items() if k.startswith("core/")]
    if scored:
        result.values["core"] = sum(scored) / len(scored)
    model.train(was_training)
    return result
