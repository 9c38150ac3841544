"""What the phase log reads: every run of a phase in chain order, and the per-step tables over those runs, read
once from the store (read-only). A run's changes against its parent come from its `config_diff` column, turned
into the short phrases of a "Key runs" list ("prompt v1.3 -> v1.4", "philosophy added (25%)")."""
import json
from dataclasses import dataclass

from phaselog.core.errors import PhaselogError
from phaselog.core.store import Store


@dataclass
class PhaseData:
    phase: str
    runs: list[dict]             # runs rows in chain order, each with "config" (the parsed config_json)
    segments: list[dict]
    metrics: list[dict]          # run_id, step, loss, tokens_per_sec, mfu, step_time_ms
    val_bpb: list[dict]          # run_id, step, value
    evals: list[dict]            # every evaluation: run_id, step, name (val_bpb, val_bpb/<source>, core, ...), value
    mix: list[dict]              # run_id, segment_start, source, token_share
    reflections: list[dict]      # run_id, step, prompt_version, distinct_2, formatting_score, is_loop (None:
                                 # not scanned)
    bias: list[dict]             # non-probe bias events: run_id, step, severity
    reviews: list[dict]
    health: list[dict]
    journal: list[dict]
    uptake: list[dict]           # the uptake table's rows (understanding/uptake.py), every run of the phase

    @property
    def run_ids(self) -> list[str]:
        return [r["run_id"] for r in self.runs]


def rows(store: Store, sql: str, params: list) -> list[dict]:
    columns, found = store.query(sql, params)
    return [dict(zip(columns, row)) for row in found]


def chain_order(runs: list[dict]) -> list[dict]:
    """Parents before children; runs of the phase with no parent in it (several starts) by start step and date."""
    by_parent: dict[str | None, list[dict]] = {}
    ids = {r["run_id"] for r in runs}
    for r in sorted(runs, key=lambda r: (r["start_step"], r["created_at"])):
        by_parent.setdefault(r["parent_run"] if r["parent_run"] in ids else None, []).append(r)
    ordered = []

    def visit(parent: str | None) -> None:
        for r in by_parent.get(parent, []):
            ordered.append(r)
            visit(r["run_id"])
    visit(None)
    return ordered


def gather_phase(store: Store, phase: str) -> PhaseData:
    runs = rows(store, "SELECT * FROM runs WHERE phase = ?", [phase])
    if not runs:
        known = ", ".join(r[0] for r in store.query("SELECT DISTINCT phase FROM runs ORDER BY 1")[1]) or "none"
        raise PhaselogError(f"no runs of phase {phase!r} in {store} (phases: {known})")
    runs = chain_order(runs)
    for r in runs:
        r["config"] = json.loads(r["config_json"])
    ids = [r["run_id"] for r in runs]
    where = f"run_id IN ({', '.join('?' for _ in ids)})"

    def read(sql: str) -> list[dict]:
        return rows(store, sql.format(where=where), ids)

    return PhaseData(
        phase=phase, runs=runs,
        segments=read('SELECT * FROM segments WHERE {where} ORDER BY start_step, "index"'),
        metrics=read("SELECT run_id, step, loss, tokens_per_sec, mfu, step_time_ms FROM metrics WHERE {where} "
                     "ORDER BY step"),
        val_bpb=read("SELECT run_id, step, value FROM evals WHERE {where} AND name = 'val_bpb' ORDER BY step"),
        evals=read("SELECT run_id, step, name, value FROM evals WHERE {where} ORDER BY name, step"),
        mix=read("SELECT run_id, segment_start, source, token_share FROM data_mix WHERE {where} AND tokens > 0 "
                 "ORDER BY segment_start, source"),
        # a reflection's loop row is the loop_events row whose text_key names it (as scanned_texts keys it)
        reflections=read(
            "SELECT r.run_id, r.step, r.prompt_version, r.distinct_2, r.formatting_score, l.is_loop "
            "FROM reflections r LEFT JOIN loop_events l ON l.run_id = r.run_id AND l.step = r.step "
            "AND l.source = 'reflection' "
            "AND l.text_key = concat_ws(':', r.step, r.prompt_version, r.framing, r.sample_index) "
            "WHERE r.{where} ORDER BY r.step, r.sample_index"),
        bias=read("SELECT run_id, step, severity FROM bias_events WHERE {where} AND source <> 'probe' ORDER BY step"),
        reviews=read("SELECT run_id, step, status, decision FROM reviews WHERE {where} ORDER BY step"),
        uptake=read("SELECT * FROM uptake WHERE {where} ORDER BY step, source"),
        health=read("SELECT run_id, step, status FROM health WHERE {where} ORDER BY step"),
        journal=read("SELECT run_id, step, author, text, tags, created_at FROM journal WHERE {where} "
                     "ORDER BY step, created_at"),
    )


def source_share(config: dict, name: str) -> float:
    """A source's share of the mix when it is active: its weight over the weights active at its start."""
    sources = config["data"]["sources"]
    mine = next(s for s in sources if s["name"] == name)
    at = max(mine["start_step"], config["train"]["start_step"])
    active = [s["weight"] for s in sources if s["start_step"] <= at and (s["end_step"] is None or at < s["end_step"])]
    return mine["weight"] / (sum(active) or mine["weight"])


def on_off(value) -> str:
    return "on" if value else "off"


# config paths with a phrase of their own; any other change reads "path old -> new"
PHRASES = {
    "self_play.prompt_version": lambda old, new: f"prompt {old} -> {new}",
    "self_play.enabled": lambda old, new: f"self-play {on_off(new)}",
    "review.enabled": lambda old, new: f"review pause {on_off(new)} (loops and bias)",
    "review.probe": lambda old, new: f"bias probe {on_off(new)}",
    "understanding.freeze": lambda old, new: f"concept freezing {on_off(new)}",
}
# the run's steps head its entry in "Key runs": a continuation that trains further is no change of its own
UNSAID = {"train.end_step"}


def change_phrases(diff: dict, config: dict) -> list[str]:
    out = []
    for path, (old, new) in diff.items():
        if path in UNSAID:
            continue
        if path.startswith("data.sources."):
            name = path.split(".", 2)[2]
            if old is None:
                out.append(f"{name} added ({100 * source_share(config, name):.0f}%)")
            elif new is None:
                out.append(f"{name} removed")
            else:
                out += [f"{name} {k} {old[k]} -> {new[k]}" for k in new if old.get(k) != new[k]]
        elif path in PHRASES:
            out.append(PHRASES[path](old, new))
        else:
            out.append(f"{path} {old} -> {new}")
    return out


def first_run_phrases(config: dict, review: bool = True) -> list[str]:
    """What the first run of a phase starts with, in the same words as the changes after it; the review setting
    only when `review` (it differs between runs or it mattered: a pause, a high finding that did not pause), since
    said on every run it carries no information."""
    sources = ", ".join(f"{s['name']} ({100 * source_share(config, s['name']):.0f}%"
                        + (f" from step {s['start_step']:,}" if s["start_step"] > config["train"]["start_step"]
                           else "") + ")" for s in config["data"]["sources"])
    out = [f"sources {sources}"]
    if config["self_play"]["enabled"]:
        out.append(f"prompt {config['self_play']['prompt_version']}")
    if review:
        out.append(f"review pause {on_off(config['review']['enabled'])}")
    if config["train"].get("init_from"):
        out.append(f"weights from {config['train']['init_from']}")
    return out


def run_changes(run: dict, review: bool = True) -> list[str]:
    if run["parent_run"] is None or run["config_diff"] is None:
        return first_run_phrases(run["config"], review)
    return change_phrases(json.loads(run["config_diff"]), run["config"]) or ["no change"]
