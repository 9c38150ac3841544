"""A synthesised store of a long phase, for the report benchmark and the report tests: the backbone tables from
migration 001 plus the later stages' tables in the shape of migrations 003-005 (the columns the report reads;
docs/reports.md lists them). Built from a seeded generator, so the same arguments give the same store; it is made with its
own schema rather than the live migrations so a golden report stays stable while those migrations evolve."""
import json
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from phaselog.core.store import Store, migrations

# the later stages' tables: the report's columns of migrations 003-005
DESIGN_TABLES = """
CREATE TABLE activation_stats (run_id VARCHAR, step BIGINT, layer INTEGER, rms DOUBLE, max_abs DOUBLE,
    sparsity DOUBLE, attn_entropy DOUBLE, grad_norm DOUBLE, update_ratio DOUBLE);
CREATE TABLE health (run_id VARCHAR, step BIGINT, status VARCHAR, reasons VARCHAR, sentence VARCHAR);
CREATE TABLE learning_pattern (run_id VARCHAR, segment_start BIGINT, segment_end BIGINT, pattern VARCHAR,
    most_active_layers INTEGER[], sentence VARCHAR);
CREATE TABLE shimmer_history (run_id VARCHAR, step BIGINT, layer INTEGER, shimmer DOUBLE);
CREATE TABLE concepts (run_id VARCHAR, step BIGINT, concept_id VARCHAR, layer INTEGER, unit INTEGER, tier VARCHAR,
    stability DOUBLE, frozen BOOLEAN);
CREATE TABLE reflections (run_id VARCHAR, step BIGINT, segment INTEGER, prompt_version VARCHAR, sample_index INTEGER,
    text VARCHAR, token_count INTEGER, train_loss DOUBLE, seq_rep_4 DOUBLE, distinct_2 DOUBLE, compression_ratio DOUBLE,
    formatting_score DOUBLE, motifs VARCHAR);
CREATE TABLE journal (id VARCHAR, run_id VARCHAR, step BIGINT, author VARCHAR, text VARCHAR, tags VARCHAR[],
    created_at TIMESTAMP);
CREATE TABLE loop_events (run_id VARCHAR, step BIGINT, source VARCHAR, item VARCHAR, is_loop BOOLEAN,
    severity VARCHAR, period INTEGER, unit VARCHAR, repeats INTEGER, loop_share DOUBLE, excerpt VARCHAR);
CREATE TABLE bias_events (run_id VARCHAR, step BIGINT, source VARCHAR, severity VARCHAR, category VARCHAR,
    terms VARCHAR, context VARCHAR, decision VARCHAR);
CREATE TABLE reviews (run_id VARCHAR, step BIGINT, status VARCHAR, decision VARCHAR, note VARCHAR,
    requested_at TIMESTAMP, answered_at TIMESTAMP);
"""

PROSE = ("I am learning the shape of sentences. Today the words came slowly, and I noticed that questions about "
         "knowledge keep returning: what can be known, and how would I know that I know it?")
LOOP = "observe it, or " * 40
FORMATTING = "[0-0] - [0-0] - (1) * [0-0] - " * 12
START = datetime(2025, 3, 1, 9, 0, 0)


def seq_rep_4(text: str) -> float:
    words = text.split()
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def reflection_scores(text: str) -> dict:
    structure = sum(text.count(c) for c in "[]()-*0123456789")
    return {"seq_rep_4": seq_rep_4(text), "compression_ratio": len(text) / len(zlib.compress(text.encode())),
            "formatting_score": structure / len(text), "motifs": json.dumps({"0-0": text.count("0-0")})}


def synthesise_store(home: Path, run_id: str = "synthetic", steps: int = 20_000, layers: int = 12,
                     start_step: int = 10_000, seed: int = 0) -> Store:
    """A finished phase of `steps` steps in 1000-step segments over two flow runs, with every table filled."""
    rng = np.random.default_rng(seed)
    store = Store(Path(home))
    end_step = start_step + steps
    segments = [(s, min(s + 1000, end_step)) for s in range(start_step, end_step, 1000)]
    join = start_step + 1000 * max(1, len(segments) // 3)       # philosophy joins a third of the way in
    paused = segments[len(segments) // 2][1]                     # a review pause half way
    config = {"name": "phase1", "notes": "Next: a deeper model on a GPU.\nWatch the late layers' norms.",
              "data": {"sources": [{"name": "general", "weight": 0.7, "start_step": 0, "end_step": None},
                                   {"name": "philosophy", "weight": 0.3, "start_step": join, "end_step": None}]},
              "train": {"start_step": start_step, "end_step": end_step, "segment_steps": 1000},
              "self_play": {"enabled": True, "prompt_version": "v1.4"}, "review": {"enabled": True}}

    step = np.arange(start_step + 1, end_step + 1)
    progress = (step - start_step) / steps
    loss = 3.5 + 0.6 * np.exp(-8 * progress) + 0.05 * rng.standard_normal(step.size)
    tokens_per_sec = 52_000 + 1500 * rng.standard_normal(step.size)
    tables: dict[str, list[dict] | pa.Table] = {
        "runs": [{"run_id": run_id, "name": "phase1", "config_json": json.dumps(config), "config_hash": "synthetic",
                  "run_dir": "", "start_step": start_step, "end_step": end_step, "device": "cuda",
                  "peak_flops": 1e15, "status": "completed", "created_at": START, "updated_at": START}],
        "metrics": pa.table({"run_id": [run_id] * step.size, "step": step, "loss": loss,
                             "lr": np.full(step.size, 3e-3), "grad_norm": 0.8 + 0.3 * rng.random(step.size),
                             "tokens_per_sec": tokens_per_sec, "mfu": tokens_per_sec * 6e9 / 1e15,
                             "step_time_ms": 524288 / tokens_per_sec * 1000}),
    }
    rows: dict[str, list[dict]] = {name: [] for name in (
        "segments", "evals", "data_mix", "activation_stats", "health", "learning_pattern", "shimmer_history", "concepts",
        "reflections", "journal", "loop_events", "bias_events", "reviews")}
    second_flow = len(segments) * 3 // 5
    for index, (s, e) in enumerate(segments):
        finished = START + timedelta(hours=index)
        rows["segments"].append({
            "run_id": run_id, "index": index, "start_step": s, "end_step": e, "status": "completed",
            "checkpoint": f"step_{e}.pt", "resumed_from": s, "trained_steps": e - s, "seconds": 600.0,
            "flow_run_id": "a1b2c3d4-first" if index < second_flow else "e5f6a7b8-resume", "finished_at": finished})
        frac = (e - start_step) / steps
        rows["evals"] += [{"run_id": run_id, "step": e, "name": "val_bpb", "value": 1.3 + 0.2 * np.exp(-6 * frac)},
                          {"run_id": run_id, "step": e, "name": "core", "value": 0.05 + 0.1 * frac}]
        shares = {"general": 1.0} if s < join else {"general": 0.7, "philosophy": 0.3}
        rows["data_mix"] += [{"run_id": run_id, "segment_start": s, "segment_end": e, "source": name,
                              "tokens": int(share * 524288 * (e - s)), "share": share} for name, share in shares.items()]
        for probe in range(s + 100, e + 1, 100):
            growth = 1 + 3 * (probe - start_step) / steps
            rows["activation_stats"] += [{"run_id": run_id, "step": probe, "layer": layer,
                                          "rms": (1 + layer) * (growth if layer >= layers - 2 else 1.0)
                                          * (1 + 0.02 * rng.standard_normal())}
                                         for layer in range(layers)]
        attention = e == paused
        reasons = [{"code": "activation_rms_growth", "step": e, "layer": layers - 1}] if attention else []
        rows["health"].append({
            "run_id": run_id, "step": e, "status": "needs_attention" if attention else "healthy",
            "reasons": json.dumps(reasons),
            "sentence": f"layer {layers - 1} norms growing" if attention else "all signals normal"})
        rows["learning_pattern"].append({
            "run_id": run_id, "segment_start": s, "segment_end": e, "pattern": "late" if frac > 0.4 else "uniform",
            "most_active_layers": [layers // 2, layers - 1], "sentence": ""})
        rows["shimmer_history"] += [{"run_id": run_id, "step": e, "layer": layer,
                                     "shimmer": 0.3 * (1 - frac) + 0.01 * layer} for layer in range(layers)]
        rows["concepts"] += [{"run_id": run_id, "step": e, "concept_id": f"c{k}", "layer": k % layers, "unit": 7 * k,
                              "tier": "forming" if frac < 0.5 else "maturing" if k % 2 else "candidate_to_freeze",
                              "stability": min(1.0, frac + 0.1 * k), "frozen": False} for k in range(4)]
        looping = frac > 0.5
        for sample in range(4):
            text = LOOP if looping and sample < 3 else FORMATTING if sample == 3 and frac > 0.3 else PROSE
            rows["reflections"].append({"run_id": run_id, "step": e, "segment": index, "prompt_version":
                                        "v1.3" if s < join else "v1.4", "sample_index": sample, "text": text,
                                        "token_count": len(text.split()),
                                        "train_loss": float(loss[e - start_step - 1]),
                                        "distinct_2": 0.5, **reflection_scores(text)})
            # the detector stores its verdict on every text, loops or not
            rows["loop_events"].append({
                "run_id": run_id, "step": e, "source": "reflection", "item": f"{e}:{sample}", "is_loop": text is LOOP,
                "severity": "high" if text is LOOP else "none", "period": 4 if text is LOOP else 0,
                "unit": "token" if text is LOOP else "", "repeats": 38 + index if text is LOOP else 0,
                "loop_share": 0.98 if text is LOOP else 0.0, "excerpt": "[observe it, or ...] 4 tokens x 40"})
        if e == paused:
            rows["bias_events"] += [
                {"run_id": run_id, "step": e, "source": "reflection", "severity": "high", "category": "gender",
                 "terms": json.dumps(["women", "emotional"]), "context": "women are too emotional to reason",
                 "decision": "resume_with_counterexamples"},
                {"run_id": run_id, "step": e, "source": "data", "severity": "low", "category": "age",
                 "terms": json.dumps(["old"]), "context": "the old man walked slowly", "decision": None}]
            rows["reviews"].append({"run_id": run_id, "step": e, "status": "answered",
                                    "decision": "resume_with_counterexamples",
                                    "note": "The detector did its job. Adding counterexamples from the context set.",
                                    "requested_at": finished, "answered_at": finished + timedelta(minutes=4)})
            rows["journal"].append({"id": f"j{index}", "run_id": run_id, "step": e, "author": "human",
                                    "text": "Paused for review; added counterexamples.", "tags": ["bias"],
                                    "created_at": finished + timedelta(minutes=5)})
        if index % 5 == 0:
            rows["journal"].append({"id": f"h{index}", "run_id": run_id, "step": e, "author": "human",
                                    "text": f"Check-in at step {e}: <loss> looks fine & steady.",
                                    "tags": ["check-in"], "created_at": finished + timedelta(minutes=1)})
    rows["journal"].append({"id": "next", "run_id": run_id, "step": end_step, "author": "human",
                            "text": "Try the v1.5 prompt next phase.", "tags": ["next"],
                            "created_at": START + timedelta(hours=len(segments), minutes=10)})
    tables.update(rows)

    store.home.mkdir(parents=True, exist_ok=True)
    # made by hand (the first migration and the design's tables), not the current tables a plain writer would make
    with store.writer(migrating=True) as con:
        con.execute(migrations()[0][2])
        con.execute(DESIGN_TABLES)
        for name, table in tables.items():
            arrow = table if isinstance(table, pa.Table) else pa.Table.from_pylist(table)
            con.register("incoming", arrow)
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM incoming')
            con.unregister("incoming")
    return store
