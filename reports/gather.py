"""Everything a report needs, read once from the store (read-only). Other stages add their tables over time, so a
table may be absent, empty, or lack a column: an absent table reads as None, an empty one as [], and a missing
column as None in every row. Each wanted field names the columns it may live under, first match wins."""
import json
from dataclasses import dataclass, replace

import numpy as np

from phaselog.core.errors import PhaselogError
from phaselog.core.store import Store

# field -> the column names it may have in the store (the design's name first)
MIX_FIELDS = {"segment_start": ("segment_start",), "segment_end": ("segment_end",), "source": ("source",),
              "tokens": ("tokens",),
              "token_share": ("token_share", "share")}
ACTIVATION_FIELDS = {"step": ("step",), "layer": ("layer",),
                     "rms": ("rms", "resid_rms", "residual_rms", "act_rms", "activation_rms")}
HEALTH_FIELDS = {"step": ("step",), "status": ("status",), "reasons": ("reasons",),
                 "sentence": ("sentence", "message", "summary")}
PATTERN_FIELDS = {"step": ("segment_end", "step"), "pattern": ("pattern", "learning_pattern"),
                  "layers": ("most_active_layers",)}
SHIMMER_FIELDS = {"step": ("step",), "layer": ("layer",), "shimmer": ("shimmer", "value", "mean_abs_change")}
CONCEPT_FIELDS = {"step": ("step",), "concept_id": ("concept_id",), "layer": ("layer",), "tier": ("tier",),
                  "stability": ("stability",), "frozen": ("frozen",)}
REFLECTION_FIELDS = {"step": ("step",), "sample_index": ("sample_index", "sample"),
                     "prompt_version": ("prompt_version",), "text": ("text",), "loss": ("loss", "train_loss"),
                     "seq_rep_4": ("seq_rep_4", "seq_rep4"), "compression_ratio": ("compression_ratio",),
                     "formatting_score": ("formatting_score", "formatting_channel", "format_score"),
                     "motifs": ("motifs",), "signature": ("signature",), "corpus_uptake": ("corpus_uptake",)}
LOOP_FIELDS = {"step": ("step",), "source": ("source",), "item": ("item",), "is_loop": ("is_loop",),
               "sample_index": ("sample_index", "sample"), "unit": ("unit", "kind"),
               "period": ("period",), "repeats": ("repeats", "count", "repeat_count"),
               "severity": ("severity",), "excerpt": ("excerpt", "name")}
BIAS_FIELDS = {"run_id": ("run_id",), "step": ("step",), "source": ("source",), "severity": ("severity",),
               "category": ("category",), "terms": ("terms",), "context": ("context",), "decision": ("decision",),
               "value": ("value",), "stderr": ("stderr",), "discounted": ("discounted",),
               "text_key": ("text_key", "item")}
# every text the loop detector scanned (reflections, the drill text, training-data windows), looping or not
SCAN_FIELDS = {"step": ("step",), "source": ("source",), "text_key": ("text_key", "item")}
REVIEW_FIELDS = {"step": ("step",), "status": ("status",), "decision": ("decision",), "note": ("note",),
                 "created_at": ("answered_at", "created_at", "requested_at")}
UPTAKE_FIELDS = {"step": ("step",), "source": ("source",), "joined_step": ("joined_step",), "score": ("score",),
                 "band_low": ("band_low",), "band_high": ("band_high",), "auc": ("auc",),
                 "before_reflections": ("before_reflections",), "window_tokens": ("window_tokens",),
                 "status": ("status",)}
JOURNAL_FIELDS = {"step": ("step",), "author": ("author",), "text": ("text",), "tags": ("tags", "tag"),
                  "created_at": ("created_at",), "id": ("id",)}


@dataclass
class ReportData:
    run_id: str
    first_step: int
    last_step: int
    run: dict
    segments: list[dict]
    metrics: dict[str, np.ndarray]          # column -> array, ordered by step
    evals: list[dict]
    data_mix: list[dict]
    activation: list[dict] | None = None
    health: list[dict] | None = None
    patterns: list[dict] | None = None     # learning pattern per segment, keyed by its end step
    shimmer: list[dict] | None = None
    concepts: list[dict] | None = None
    reflections: list[dict] | None = None
    uptake: list[dict] | None = None        # calibrated corpus uptake per reflection step and source
    loop_events: list[dict] | None = None   # loops found in reflections
    scans: list[dict] | None = None         # every loop_events row: what was scanned
    bias_events: list[dict] | None = None
    reviews: list[dict] | None = None
    journal: list[dict] | None = None
    run_configs: dict | None = None         # a phase's chain: run_id -> that run's own config (`whole_phase`)
    chain_runs: list[dict] | None = None    # a phase's chain: each run's `runs` row, parents first (`whole_phase`)

    @property
    def run_ids(self) -> tuple[str, ...]:
        """The runs read: this one, or a phase's chain, parents first."""
        return tuple(self.run_configs or ()) or (self.run_id,)


def run_condition(data: ReportData) -> str:
    """The SQL condition on run_id that lists what the report read, for the queries it suggests."""
    ids = data.run_ids
    return f"run_id = '{ids[0]}'" if len(ids) == 1 else f"run_id in ({', '.join(repr(i) for i in ids)})"


def config_of(data: ReportData) -> dict:
    return json.loads(data.run.get("config_json") or "{}")


def bucket_width(data: ReportData) -> int:
    """Loss is summarised per segment length (1000 steps in a standard phase)."""
    return int(config_of(data).get("train", {}).get("segment_steps") or 1000)


class StoreView:
    """One read-only connection, the tables and columns it holds, and a step window."""

    def __init__(self, con, run_id: str, first_step: int, last_step: int):
        self.con, self.run_id, self.first_step, self.last_step = con, run_id, first_step, last_step
        self.columns: dict[str, list[str]] = {}
        for table, column in con.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
                "ORDER BY table_name, ordinal_position").fetchall():
            self.columns.setdefault(table, []).append(column)

    def rows(self, table: str, fields: dict[str, tuple[str, ...]], step_column: str | None = "step") -> list[dict] | None:
        """Rows of this run in the step window, as dicts with exactly `fields`; None when the table is absent."""
        have = self.columns.get(table)
        if have is None or "run_id" not in have:
            return None
        select = []
        for name, candidates in fields.items():
            column = next((c for c in candidates if c in have), None)
            select.append(f'"{column}" AS "{name}"' if column else f'NULL AS "{name}"')
        where, params = "run_id = ?", [self.run_id]
        if step_column in have:
            where += f' AND "{step_column}" BETWEEN ? AND ?'
            params += [self.first_step, self.last_step]
        # ORDER BY ALL sorts on every selected field, so equal steps still come out in one fixed order
        cursor = self.con.execute(f"SELECT {', '.join(select)} FROM \"{table}\" WHERE {where} ORDER BY ALL", params)
        return [dict(zip(fields, row)) for row in cursor.fetchall()]


def reflection_loops(rows: list[dict] | None) -> list[dict] | None:
    """Loops found in reflections: the detector also stores its verdict on non-loops and on training data, and
    names the reflection by an item 'step:index' when there is no sample_index column."""
    if rows is None:
        return None
    loops = []
    for row in rows:
        if row["is_loop"] is False or row["source"] not in (None, "reflection"):
            continue
        if row["sample_index"] is None and row["item"] and str(row["item"]).rsplit(":", 1)[-1].isdigit():
            row["sample_index"] = int(str(row["item"]).rsplit(":", 1)[-1])
        loops.append(row)
    return loops


def step_window(con, run_id: str, phase_start: int | None, from_step: int | None,
                to_step: int | None) -> tuple[int, int]:
    """The report's [first, last] steps; a whole phase reads from its start step (metrics begin one step later)."""
    low, high = con.execute("SELECT min(step), max(step) FROM metrics WHERE run_id = ?", [run_id]).fetchone()
    if low is None:
        raise PhaselogError(f"run {run_id!r} has no training metrics yet: nothing to report")
    low = min(low, phase_start) if phase_start is not None else low
    first = low if from_step is None else max(low, from_step)
    last = high if to_step is None else min(high, to_step)
    if first > last:
        raise PhaselogError(f"--from-step/--to-step ({from_step if from_step is not None else 'start'} to "
                            f"{to_step if to_step is not None else 'end'}) select no steps of run {run_id!r}, "
                            f"which has steps {low}-{high}")
    return int(first), int(last)


def gather(store: Store, run_id: str, from_step: int | None = None, to_step: int | None = None) -> ReportData:
    with store.reader() as con:
        cursor = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        rows = cursor.fetchall()
        if not rows:
            raise PhaselogError(f"unknown run id {run_id!r} in {store}; `phaselog sql \"select run_id from "
                                "runs\"` lists the runs")
        run = dict(zip([c[0] for c in cursor.description], rows[0]))
        first, last = step_window(con, run_id, run.get("start_step"), from_step, to_step)
        view = StoreView(con, run_id, first, last)
        metrics = con.execute(
            "SELECT step, loss, grad_norm, tokens_per_sec, mfu, step_time_ms FROM metrics "
            "WHERE run_id = ? AND step BETWEEN ? AND ? ORDER BY step", [run_id, first, last]).fetchnumpy()
        # a segment belongs to the window when its steps overlap it (segment steps are (start, end])
        # every column: the share of the machine (migration 012's cpu_seconds, loop_seconds, threads, cores,
        # load_start, load_end) is read where a store has it
        cursor = con.execute('SELECT * FROM segments WHERE run_id = ? AND end_step > ? AND start_step < ? '
                             'ORDER BY start_step', [run_id, first - 1, last])
        segment_keys = [c[0] for c in cursor.description]
        segments = cursor.fetchall()
        return ReportData(
            run_id=run_id, first_step=first, last_step=last, run=run,
            segments=[dict(zip(segment_keys, s)) for s in segments],
            metrics={k: np.asarray(v, dtype=float) for k, v in metrics.items()},
            evals=view.rows("evals", {"step": ("step",), "name": ("name",), "value": ("value",)}),
            data_mix=[m for m in view.rows("data_mix", MIX_FIELDS, step_column=None)
                      if m["segment_end"] >= first and m["segment_start"] < last],
            activation=view.rows("activation_stats", ACTIVATION_FIELDS),
            health=view.rows("health", HEALTH_FIELDS),
            patterns=view.rows("learning_pattern", PATTERN_FIELDS, step_column="segment_end"),
            shimmer=view.rows("shimmer_history", SHIMMER_FIELDS),
            concepts=view.rows("concepts", CONCEPT_FIELDS),
            reflections=view.rows("reflections", REFLECTION_FIELDS),
            uptake=view.rows("uptake", UPTAKE_FIELDS),
            loop_events=reflection_loops(view.rows("loop_events", LOOP_FIELDS)),
            scans=view.rows("loop_events", SCAN_FIELDS),
            bias_events=view.rows("bias_events", BIAS_FIELDS),
            reviews=view.rows("reviews", REVIEW_FIELDS),
            journal=view.rows("journal", JOURNAL_FIELDS),
        )


# the ReportData fields that hold rows, which whole_phase concatenates
LISTED = ("segments", "evals", "data_mix", "activation", "health", "patterns", "shimmer", "concepts",
          "reflections", "uptake", "loop_events", "scans", "bias_events", "reviews", "journal")


def whole_phase(chain: list[ReportData]) -> ReportData:
    """A phase's runs (parents first) read as one run from the first run's first step, under the last run's
    settings: the sections that judge a range (how the model talks now, loops and bias, the understanding
    module) then tell the phase, not only its last run. Row lists are concatenated: the runs of a chain train
    disjoint step ranges."""
    first, last = chain[0], chain[-1]
    lists = {name: [row for data in chain for row in getattr(data, name) or []]
             if any(getattr(data, name) is not None for data in chain) else None for name in LISTED}
    config = config_of(last)
    config["train"] = {**config.get("train", {}), "start_step": first.run.get("start_step")}
    return replace(last, first_step=first.first_step, run={**last.run, "start_step": first.run.get("start_step"),
                                                           "config_json": json.dumps(config)},
                   metrics={k: np.concatenate([d.metrics[k] for d in chain]) for k in last.metrics},
                   run_configs={d.run_id: config_of(d) for d in chain}, chain_runs=[d.run for d in chain], **lists)
