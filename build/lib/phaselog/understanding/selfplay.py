"""Self-play: the model at a segment's end checkpoint writes N reflections from the configured prompt (after a
review pause, with the framing prompt before it). Returns rows for the `reflections` table, each with its
sampling settings, seed and signatures; the flow process stores them."""
import json
from pathlib import Path

import numpy as np

from phaselog.core.store import now
from phaselog.datasets.shards import load_stream
from phaselog.model.checkpoint import checkpoint_path, load_model
from phaselog.model.device import pick_device
from phaselog.model.engine import Sampling, generate
from phaselog.model.prompts import prompt_text, self_play_prompts
from phaselog.model.uptake import log_ratios
from phaselog.understanding.signatures import distinctive_z, motif_consistent, reflection_signatures


def source_token_counts(run_dir: Path, source_names: list[str], vocab_size: int) -> dict[str, np.ndarray]:
    """How often each token id occurs in each source's training split: the vocabulary corpus uptake compares to."""
    return {name: np.bincount(load_stream(run_dir / "shards", name, "train"), minlength=vocab_size)
            for name in source_names}


def reflect(run_dir: Path, config, run_id: str, segment: int, step: int, train_loss: float | None,
            after_review: bool = False) -> list[dict]:
    sp = config.self_play
    pairs = self_play_prompts(sp)
    framing, prompt = pairs[-1] if after_review else pairs[0]
    text = prompt_text(framing, prompt)

    run_dir = Path(run_dir)
    device = pick_device(config.train.device)
    model, tokenizer = load_model(run_dir, config.model, checkpoint_path(run_dir / "checkpoints", step), device)

    ids = [tokenizer.bos_id] + tokenizer.encode(text)
    # stay inside the trained context: positions past seq_len were never seen and would make loops of their own
    budget = min(sp.max_new_tokens, config.model.seq_len - len(ids))
    seed = sp.seed if sp.seed is not None else config.train.seed + step
    # BOS starts a new document: the reflection is over
    sampling = Sampling(sp.temperature, sp.top_k, sp.top_p, budget, (tokenizer.bos_id,), seed)
    outputs = generate(model, [ids] * sp.samples, sampling)

    counts = source_token_counts(run_dir, [s.name for s in config.data.sources], tokenizer.vocab_size)
    z, ratios = distinctive_z(counts), log_ratios(counts)
    rows = []
    for index, tokens in enumerate(outputs):
        reflection = tokenizer.decode(tokens)
        rows.append({
            "run_id": run_id, "step": step, "segment": segment, "prompt_version": prompt.version,
            "framing": framing.version if framing else "", "sample_index": index, "prompt_text": text,
            "text": reflection, "token_count": len(tokens), "train_loss": train_loss,
            "temperature": sp.temperature, "top_k": sp.top_k, "top_p": sp.top_p, "max_new_tokens": budget,
            "seed": seed, **reflection_signatures(reflection, tokens, tokenizer.decode, z, ratios),
            "created_at": now()})
    consistent = motif_consistent([json.loads(r["motif_sequence"]) for r in rows])
    for row in rows:
        row["motif_consistent"] = consistent
    return rows
