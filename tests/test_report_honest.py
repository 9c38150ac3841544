"""The phase log says nothing a careful reader would misread (issue 41's five cases), each recomputed on a
synthesised phase of two runs in the live schema: run one trains steps 0 -> 2,000 on the general books, philosophy
joining at step 1,000 with a jump in the loss; run two continues it to step 3,000 with the prompt changed
v1.3 -> v1.4. The loss falls 0.7 nats with usual ranges that overlap; philosophy surfaces at the first self-play
after the prompt change; one probe category drifts slowly; one high bias finding did not pause."""
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from phaselog.core.config import PhaseConfig
from phaselog.core.store import Store
from phaselog.reports.build import write_report
from phaselog.reports.document import md
from phaselog.reports.numbers import num
from phaselog.reports.claims import claims, summary_claims
from phaselog.reports.charts import health_chart
from phaselog.reports.phase import model_charts, read_whole, write_phase_report
from phaselog.reports.phase_data import gather_phase

START = datetime(2026, 12, 3, 9, 0, 0)
JOIN, SWITCH, END, SEGMENT = 1000, 2000, 3000, 500
PROBE_CATEGORIES = ("gender", "religion", "age", "nationality")


def config(end_step: int, prompt: str) -> dict:
    return PhaseConfig.model_validate({
        "name": "honest", "phase": "honest",
        "data": {"sources": [{"name": "general", "path": "general", "weight": 0.7},
                             {"name": "philosophy", "path": "philosophy", "weight": 0.3, "start_step": JOIN}]},
        "train": {"start_step": 0 if end_step == SWITCH else SWITCH, "end_step": end_step, "segment_steps": SEGMENT,
                  "device": "cpu"},
        "self_play": {"prompt_version": prompt}, "review": {"enabled": True}}).model_dump(mode="json")


def loss_curve(rng) -> np.ndarray:
    """4.55 over the first 500 steps, down to 3.87 over the last, with a +0.18 step at the join that fades over
    ~200 steps; noise wide enough (sd 0.28) that the first and last stretch's 10th-90th percentile ranges overlap."""
    step = np.arange(1, END + 1)
    level = np.interp(step, [0, SEGMENT, END - SEGMENT, END], [4.55, 4.55, 3.87, 3.87])
    level += np.where(step > JOIN, 0.18 * np.exp(-(step - JOIN) / 200), 0.0)
    return level + 0.28 * rng.standard_normal(step.size)


def fresh_run_curve(rng) -> np.ndarray:
    """A fresh run's shape: 7.9 at the first step, most of the fall (to 4.4) within ~300 steps, then flat, with the
    join's +0.18 fading over ~200 steps; noise sd 0.1."""
    step = np.arange(1, END + 1)
    level = 4.4 + 3.5 * np.exp(-step / 60) + np.where(step > JOIN, 0.18 * np.exp(-(step - JOIN) / 200), 0.0)
    return level + 0.1 * rng.standard_normal(step.size)


def uptake_json(philosophy: float, general: float, content: int) -> str:
    return json.dumps({"general": {"share": general, "content_tokens": content, "top": [" river", " house"],
                                   "score": -0.1},
                       "philosophy": {"share": philosophy, "content_tokens": content, "top": [" reason", " soul"],
                                      "score": 0.1}})


def machine(busy: bool, index: int) -> dict:
    """Migration 012's columns: run one trained on a shared machine (about a third of its two threads' time, the
    load average near 8 on 2 cores), run two had it to itself (95%, the load under 2)."""
    share, load = (0.31 + 0.02 * index, 7.4 + 0.3 * index) if busy else (0.95, 1.6 + 0.1 * index)
    return {"cpu_seconds": share * 55.0 * 2, "loop_seconds": 55.0, "threads": 2, "cores": 2, "load_start": load,
            "load_end": load + 0.2}


def synthesise_phase(home: Path, seed: int = 0, surfaces_after: int = SWITCH, curve=loss_curve) -> Store:
    rng = np.random.default_rng(seed)
    store = Store(home)
    store.migrate()
    loss = curve(rng)
    step = np.arange(1, END + 1)
    runs = [("one", None, 0, SWITCH, "v1.3", None),
            ("two", "one", SWITCH, END, "v1.4",
             {"self_play.prompt_version": ["v1.3", "v1.4"], "train.end_step": [SWITCH, END]})]
    rows: dict[str, list[dict]] = {name: [] for name in (
        "runs", "segments", "metrics", "evals", "data_mix", "reflections", "uptake", "bias_events", "loop_events")}
    val = {500: 2.14, 1000: 2.07, 1500: 2.0, 2000: 1.92, 2500: 1.86, 3000: 1.81}
    for n, (run_id, parent, first, last, prompt, diff) in enumerate(runs):
        began = START + timedelta(hours=3 * n)
        rows["runs"].append({
            "run_id": run_id, "name": "honest", "config_json": json.dumps(config(last, prompt)), "run_dir": "",
            "start_step": first, "end_step": last, "device": "cpu", "peak_flops": 2e11, "status": "completed",
            "created_at": began, "updated_at": began, "phase": "honest", "parent_run": parent,
            "continued_from": first if parent else None, "config_diff": json.dumps(diff) if diff else None,
            "started_at": began, "ended_at": began + timedelta(hours=2)})
        mine = (step > first) & (step <= last)
        rows["metrics"] += [{"run_id": run_id, "step": int(s), "loss": float(v), "lr": 3e-3, "grad_norm": 0.9,
                             "tokens_per_sec": 20_000.0, "mfu": 0.3, "step_time_ms": 50.0}
                            for s, v in zip(step[mine], loss[mine])]
        for index, start in enumerate(range(first, last, SEGMENT)):
            end = start + SEGMENT
            rows["segments"].append({
                "run_id": run_id, "index": index, "start_step": start, "end_step": end, "status": "completed",
                "checkpoint": f"step_{end}.pt", "resumed_from": start, "trained_steps": SEGMENT, "seconds": 60.0,
                "flow_run_id": f"flow-{run_id}", "finished_at": began + timedelta(minutes=2 * index),
                **machine(run_id == "one", index)})
            # val bpb improves while the mini bundle's CORE falls 0.64 -> 0.55; philosophy's own val bpb falls most
            k = end // SEGMENT - 1
            rows["evals"] += [{"run_id": run_id, "step": end, "name": name, "value": value} for name, value in (
                ("val_bpb", val[end]), ("val_bpb/general", val[end] - 0.05), ("val_bpb/philosophy", 2.22 - 0.084 * k),
                ("core", 0.64 - 0.018 * k), ("core/arc_easy", 0.6 - 0.02 * k), ("core/copa", 0.68 - 0.016 * k),
                ("acc/arc_easy", 0.7 - 0.01 * k), ("acc/copa", 0.84 - 0.008 * k))]
            shares = {"general": 1.0} if start < JOIN else {"general": 0.7, "philosophy": 0.3}
            rows["data_mix"] += [{"run_id": run_id, "segment_start": start, "segment_end": end, "source": source,
                                  "tokens": int(share * 4096 * SEGMENT), "share": share, "token_share": share}
                                 for source, share in shares.items()]
            # four reflections per segment end; philosophy's share of the content words grows after the join
            for sample in range(4):
                lean = 0.0 if end <= JOIN else 0.1 + 0.05 * sample + 0.02 * (end // SEGMENT)
                rows["reflections"].append({
                    "run_id": run_id, "step": end, "segment": index, "prompt_version": prompt, "framing": "",
                    "sample_index": sample, "text": f"At step {end} I wrote reflection {sample} about reason.",
                    "token_count": 40, "train_loss": float(loss[end - 1]), "seq_rep_4": 0.0, "distinct_2": 0.9,
                    "compression_ratio": 1.5, "formatting_score": 0.0,
                    "corpus_uptake": uptake_json(0.2 + lean, 0.4 - lean / 2, 30)})
                rows["loop_events"].append({
                    "run_id": run_id, "step": end, "source": "reflection", "item": f"{end}:{sample}",
                    "text_key": f"{end}:{prompt}::{sample}", "is_loop": False, "severity": "none"})
            # philosophy's uptake: inside its band until the first self-play after the prompt change
            surfaced = end > surfaces_after
            rows["uptake"].append({
                "run_id": run_id, "step": end, "source": "philosophy", "joined_step": JOIN, "reflections": 4,
                "score": 0.45 if surfaced else 0.1, "score_se": 0.03, "before_reflections": 8, "before_low": -0.2,
                "before_high": 0.3, "window_tokens": 40, "auc": 0.93, "band_low": -0.2, "band_high": 0.3,
                "status": "not_joined" if end <= JOIN else "surfaced" if surfaced else "not_yet"})
            # the probe, 20 pairs a category: gender creeps up 0.05 nats a segment (about 1 standard error of the
            # difference against the others, each step far under the 3-SE bar), the others hold; "all" is their mean
            drift = 0.05 * (end // SEGMENT - 1)
            for category in PROBE_CATEGORIES + ("all",):
                value = {"gender": 0.02 + drift, "all": 0.02 + drift / len(PROBE_CATEGORIES)}.get(category, 0.02)
                pairs = 20 * (len(PROBE_CATEGORIES) if category == "all" else 1)
                rows["bias_events"].append({
                    "run_id": run_id, "step": end, "source": "probe", "item": category, "severity": "none",
                    "category": category, "value": value, "stderr": 0.03 * np.sqrt(20 / pairs),
                    "terms": json.dumps({"pairs": pairs, "skipped": 0})})
    # a high finding in a reflection of run one that did not pause (no review is recorded at its step); first in
    # the table's rows, whose columns are read from the first row
    rows["bias_events"].insert(0, {
        "run_id": "one", "step": 1500, "source": "reflection", "item": "1500:v1.3::2#0", "text_key": "1500:v1.3::2",
        "severity": "high", "category": "gender", "terms": json.dumps(["men", "degenerate"]),
        "context": "But why do men degenerate ever?", "discounted": "", "value": None, "stderr": None})
    rows["journal"] = [{"id": "why-two", "run_id": "two", "step": SWITCH, "author": "human",
                        "text": "v1.3 invites lists; v1.4 asks for a diary sentence.", "tags": ["why"],
                        "created_at": START + timedelta(hours=3)}]
    for table, items in rows.items():
        store.replace_rows(table, items, "true", [])
    return store


@pytest.fixture(scope="module")
def phase_log(tmp_path_factory) -> tuple[Store, str]:
    home = tmp_path_factory.mktemp("honest-phase")
    store = synthesise_phase(home)
    return store, Path(write_phase_report(home, "honest")["markdown"]).read_text()


def section(markdown: str, heading: str) -> str:
    return markdown.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]


def bullets(text: str) -> list[str]:
    return [line[2:] for line in text.splitlines() if line.startswith("- ")]


def one(store: Store, sql: str, params: list = ()):
    return store.query(sql, list(params))[1][0]


def stretch(store: Store, first: int, last: int) -> np.ndarray:
    return np.array([v for (v,) in store.query("SELECT loss FROM metrics WHERE step BETWEEN ? AND ? ORDER BY step",
                                               [first, last])[1]])


def batch_se(values: np.ndarray) -> float:
    means = [b.mean() for b in np.array_split(values, 10)]
    return float(np.std(means, ddof=1) / np.sqrt(10))


def period_figures(store: Store, start: int, end: int) -> str:
    """The period's first and last tenth's means with their batch-means standard errors, from the store."""
    width = (end - start) // 10
    head, tail = stretch(store, start + 1, start + width), stretch(store, end - width + 1, end)
    return (f"{num(head.mean())} ± {num(batch_se(head), 2)} -\\> {num(tail.mean())} ± {num(batch_se(tail), 2)} "
            f"(means of its first and last {width:,} steps)")


def test_a_fall_whose_usual_ranges_overlap_reaches_the_tldr_as_means_with_their_errors(phase_log):
    store, markdown = phase_log
    first, last = stretch(store, 1, SEGMENT), stretch(store, END - SEGMENT + 1, END)
    # the case of the issue: a ~0.7-nat fall whose 10th-90th percentile ranges still overlap
    assert first.mean() - last.mean() > 0.6
    assert np.percentile(last, 90) > np.percentile(first, 10)
    tldr = bullets(section(markdown, "TL;DR"))
    assert any(b.startswith(f"Over steps 0-3,000, the loss fell {period_figures(store, 0, END)}") for b in tldr), tldr


def test_a_source_join_is_named_with_its_measured_loss_jump_and_marked_on_the_chart(phase_log, tmp_path):
    store, markdown = phase_log
    # the jump: straight lines fitted to the 250 steps either side of the join, their gap at the join
    w = SEGMENT // 2
    fits = [np.polyfit(np.arange(a + 1, a + w + 1), stretch(store, a + 1, a + w), 1) for a in (JOIN - w, JOIN)]
    jump = np.polyval(fits[1], JOIN) - np.polyval(fits[0], JOIN)
    assert jump > 0.1
    line = next(b for b in bullets(section(markdown, "Loss progression")) if "philosophy joined" in b)
    assert line.startswith("At step 1,000 (run one) philosophy joined the mix, 30% of the tokens from then on: the "
                           f"loss jumped by {num(jump, 2)} at the join")
    from phaselog.reports.phase import join_changes, read_whole
    from phaselog.reports.phase_charts import loss_chart
    from phaselog.reports.phase_data import gather_phase
    data = gather_phase(store, "honest")
    fig = loss_chart(data, [{"source": "philosophy", "step": f["event"]["step"]}
                            for f in join_changes(read_whole(store, data))])
    ax = fig.axes[0]
    marks = [line for line in ax.get_lines() if line.get_label() == "source joins: philosophy"]
    assert [float(m.get_xdata()[0]) for m in marks] == [JOIN]
    assert "source joins: philosophy" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.get_text() == "philosophy joins" for t in ax.texts)


def test_a_continued_runs_validation_reads_from_its_parents_last_value(phase_log):
    store, markdown = phase_log
    (parent_last,), = store.query("SELECT value FROM evals WHERE run_id = 'one' AND name = 'val_bpb' "
                                  "ORDER BY step DESC LIMIT 1")[1]
    (own_last,), = store.query("SELECT value FROM evals WHERE run_id = 'two' AND name = 'val_bpb' "
                               "ORDER BY step DESC LIMIT 1")[1]
    run_two = section(markdown, "Key runs").split("### Run 2")[1]
    assert f"val bpb {num(parent_last)} -\\> {num(own_last)} (from one's at step 2,000)" in run_two


def test_reflections_are_quoted_from_several_steps_with_their_loss_and_both_sources_shares(phase_log):
    """Each quote stands for its self-play (the middle one by its late-source share, not the most marked), from
    the first, a middle and the last self-play, with the loss at its step and every source's share of its content
    words side by side."""
    store, markdown = phase_log
    talk = section(markdown, "How the model talks now")
    quotes = re.findall(r"^> `step ([\d,]+)` `sample (\d)` `prompt (v1\.\d)` `plain prose` `loss ([\d.]+)`", talk,
                        re.MULTILINE)
    assert [q[0] for q in quotes] == ["500", "1,500", "3,000"]
    for at, sample, _, loss in quotes:
        step = int(at.replace(",", ""))
        (stored, uptake), = store.query("SELECT train_loss, corpus_uptake FROM reflections WHERE step = ? AND "
                                        "sample_index = ?", [step, int(sample)])[1]
        assert loss == num(stored)
        shares = sorted(json.loads(u)["philosophy"]["share"] for (u,) in store.query(
            "SELECT corpus_uptake FROM reflections WHERE step = ?", [step])[1])
        assert json.loads(uptake)["philosophy"]["share"] == shares[(len(shares) - 1) // 2]  # the middle one
        shown = json.loads(uptake)
        assert (f"of its 30 content words (stop words and punctuation out), "
                f"{100 * shown['general']['share']:.0f}% are distinctive of general ('river', 'house'); "
                f"{100 * shown['philosophy']['share']:.0f}% are distinctive of philosophy, which joined at step "
                "1,000 ('reason', 'soul')") in talk


def test_uptake_that_surfaces_right_after_a_prompt_change_carries_the_caveat(phase_log, tmp_path):
    store, markdown = phase_log
    rows = store.query("SELECT step, status FROM uptake WHERE source = 'philosophy' ORDER BY step")[1]
    first = next(i for i, (_, status) in enumerate(rows) if status == "surfaced")
    before, at = rows[first - 1][0], rows[first][0]
    versions = [store.query("SELECT DISTINCT prompt_version FROM reflections WHERE step = ?", [s])[1] for s in
                (before, at)]
    assert versions == [[("v1.3",)], [("v1.4",)]]  # the self-play that surfaced it had a new prompt
    verdict = next(b for b in bullets(section(markdown, "TL;DR")) if b.startswith("Philosophy (joined"))
    assert verdict.endswith(f"surfaced at step {at:,}; but the config changed between the self-plays at steps "
                            f"{before:,} and {at:,} (prompt v1.3 -\\> v1.4 at step 2,000), so the change may be the "
                            "config's, not philosophy's (its null band's reflections were all written before the "
                            "change).")
    # surfacing between two self-plays of one prompt and one mix: no caveat
    synthesise_phase(tmp_path / "plain", surfaces_after=JOIN)
    plain = Path(write_phase_report(tmp_path / "plain", "honest")["markdown"]).read_text()
    verdict = next(b for b in bullets(section(plain, "TL;DR")) if b.startswith("Philosophy (joined"))
    assert verdict.endswith("surfaced at step 1,500.")


def probe_rows(store: Store, category: str) -> list[tuple]:
    return store.query("SELECT step, value, stderr FROM bias_events WHERE source = 'probe' AND category = ? "
                       "ORDER BY step", [category])[1]


def test_a_slow_probe_drift_under_the_per_step_bar_is_found_over_the_whole_phase(phase_log):
    """Gender against the other categories (pairs-weighted, as the detector reads a shift): about one standard error
    a segment, five over the phase."""
    store, markdown = phase_log
    rows, others = probe_rows(store, "gender"), [probe_rows(store, c) for c in PROBE_CATEGORIES if c != "gender"]

    def against_others(a: int, b: int) -> tuple[float, float, float]:
        rest = np.mean([o[b][1] - o[a][1] for o in others])  # 20 pairs each: equal weights
        rest_se = np.sqrt(sum(o[a][2] ** 2 + o[b][2] ** 2 for o in others)) / len(others)
        se = np.sqrt(rows[a][2] ** 2 + rows[b][2] ** 2 + rest_se ** 2)
        return (rows[b][1] - rows[a][1] - rest) / se, rest, se

    assert max(abs(against_others(i, i + 1)[0]) for i in range(len(rows) - 1)) < 3  # each step under the 3-SE bar
    z, rest, se = against_others(0, -1)
    assert z > 5
    said = (f"ender's probe drifted +{rows[-1][1] - rows[0][1]:.3f} nats from step 500 to step 3,000 against "
            f"{rest:+.3f} for the other categories ({z:.1f} standard errors of the difference, ± {se:.3f}; first "
            "against last probe, past Holm over 4 categories)")
    assert said in markdown
    assert "religion's probe drifted" not in markdown.lower()  # the categories that held


def test_claims_of_a_run_of_the_phase_recompute_from_the_store(phase_log, tmp_path):
    """Run one alone: its gender drift (steps 500 -> 2,000, three steps of ~1 SE) passes Holm as a claim."""
    from tests.test_report_claims import check_claims
    store, _ = phase_log
    found = {c.name: c for c in check_claims(store.home, "one", tmp_path)}
    assert found["probe_drift/gender"].facts["z"] > 3 and found["probe_drift/gender"].group == "attention"


def test_a_high_finding_no_review_read_is_a_detector_finding_to_review_not_a_verdict(phase_log):
    store, markdown = phase_log
    (step, context), = store.query("SELECT step, context FROM bias_events WHERE severity = 'high' AND "
                                   "source <> 'probe'")[1]
    assert store.query("SELECT count(*) FROM reviews WHERE step = ?", [step])[1] == [(0,)]
    tldr = " ".join(bullets(section(markdown, "TL;DR")))
    assert (f"The bias detector graded a finding high at step {step:,} and no review has read it: a detector "
            "finding to review, not a verdict.") in tldr
    assert "derogatory" not in tldr and "not benign" not in markdown
    line = next(b for b in bullets(section(markdown, "Loops and bias")) if context in b)
    assert "the detector grades it derogatory (dehumanising, criminalising or contemptuous): a detector finding to " \
           "read, not a verdict; did not pause" in line
    # What's next keeps the run log's follow-up
    assert any(f"Read the high-severity findings that did not pause (step {step:,} (reflection))" in b
               for b in bullets(section(markdown, "What's next")))


def test_every_section_of_the_phase_log_has_something_to_say(phase_log):
    """The posts' sections are there (device, speed, CORE with its qualifier, per-source val bpb) and none holds
    only a note saying it was left out."""
    store, markdown = phase_log
    check_sections(markdown)
    overview = section(markdown, "Phase overview")
    assert "trained on cpu (the matmul peak measured at its start 200 GFLOP/s)" in overview
    assert "review pause" not in section(markdown, "Phase overview")  # said once, in Key runs
    speed = section(markdown, "Training speed")
    for run_id in ("one", "two"):
        rate, mfu, ms = one(store, "SELECT median(tokens_per_sec), median(mfu), median(step_time_ms) FROM metrics "
                                   "WHERE run_id = ?", [run_id])
        assert f"| {run_id} | cpu | " in speed and f"| {num(rate)} (" in speed
        assert f"| {num(100 * mfu)}% (of the matmul peak measured at its start 200 GFLOP/s) | {num(ms)} ms |" in speed
    evaluations = section(markdown, "Validation and benchmarks across runs")
    first, last = (one(store, f"SELECT value FROM evals WHERE name = 'val_bpb/philosophy' ORDER BY step {order} "
                              "LIMIT 1")[0] for order in ("", "DESC"))
    assert f"Philosophy's own held-out text: val bpb {num(first)} at step 500 -\\> {num(last)} at step 3,000." \
        in evaluations
    core = [v for (v,) in store.query("SELECT value FROM evals WHERE name = 'core' ORDER BY step")[1]]
    assert "over the 2 tasks of the mini bundle (evals/core\\_mini: " in evaluations
    assert "not comparable to the DCLM CORE of the posts" in evaluations
    assert f"CORE {num(core[0])} at step 500 -\\> {num(core[-1])} at step 3,000." in evaluations
    assert "CORE and val bpb disagree: CORE went down while val bpb got better." in evaluations
    assert "val bpb at end" not in markdown  # once in the validation table, not in the loss table too
    assert "loops.png" not in markdown  # no loops: the sentence says it, no empty chart


def check_sections(markdown: str) -> list[str]:
    """Every level-2 section holds something besides italic notes (a sentence, a bullet, a table, a chart, a
    quote); returns the section names."""
    names = re.findall(r"^## (.+)$", markdown, re.MULTILINE)
    for name in names:
        body = [line for line in section(markdown, name).splitlines()[1:] if line.strip()]
        said = [line for line in body if not (line.startswith("_") and line.endswith("_")) and line != "---"
                and not line.startswith("Generated by")]
        assert said, f"section {name!r} has nothing to say: {body}"
    # one evaluation said as a change ("2.64 at step 100 -> 2.64 at step 100") carries no information
    same = re.findall(r"at step ([\d,]+) -\\> \S+ at step \1\b", markdown)
    assert not same, f"a change from a step to itself: {same}"
    return names


def test_a_config_change_in_key_runs_has_its_measured_effect_and_its_reason_beside_it(phase_log):
    store, markdown = phase_log
    run_two = bullets(section(markdown, "Key runs").split("### Run 2")[1])
    assert run_two[0] == "changes from one: prompt v1.3 -\\> v1.4"
    assert run_two[1] == "why (journal, step 2,000): v1.3 invites lists; v1.4 asks for a diary sentence."
    w = SEGMENT // 2
    fits = [np.polyfit(np.arange(a + 1, a + w + 1), stretch(store, a + 1, a + w), 1) for a in (SWITCH - w, SWITCH)]
    jump = np.polyval(fits[1], SWITCH) - np.polyval(fits[0], SWITCH)
    assert run_two[2].startswith(f"measured at step 2,000 (the 250 steps either side): the loss "
                                 f"{'jumped' if jump > 0 else 'dropped'} by {num(abs(jump), 2)}, ")
    assert f"its slope went {num(1000 * fits[0][0], 2)} -\\> {num(1000 * fits[1][0], 2)} per 1,000 steps; val bpb " \
           "1.92 (step 2,000) -\\> 1.86 (step 2,500)" in run_two[2]


def test_each_key_period_says_how_the_loss_went(phase_log):
    """Over its first and last tenth: the loss flat for 500 steps, then falling 0.34 nats per 1,000 steps."""
    store, markdown = phase_log
    periods = bullets(section(markdown, "Phase overview"))
    assert len(periods) == 3
    for line, (start, end) in zip(periods, [(0, JOIN), (JOIN, SWITCH), (SWITCH, END)]):
        assert f": loss fell {period_figures(store, start, end)}" in line, line


def test_a_steep_then_flat_period_says_where_it_fell_and_only_a_flat_one_held(tmp_path):
    """A fresh run falls 7.9 -> 4.4 in its first ~300 steps and is flat after: the means of the period's two halves
    are within their (trend-widened) errors, which read as "held near 4.6"; the period's start against its end
    reads as the fall it was, with where most of it happened. Run two's period, flat, holds."""
    store = synthesise_phase(tmp_path, curve=fresh_run_curve)
    halves = stretch(store, 1, 500), stretch(store, 501, 1000)
    assert abs(halves[0].mean() - halves[1].mean()) < 3 * np.hypot(batch_se(halves[0]), batch_se(halves[1]))
    markdown = Path(write_phase_report(tmp_path, "honest")["markdown"]).read_text()
    fresh, joined, flat = bullets(section(markdown, "Phase overview"))[:3]
    assert f": loss fell {period_figures(store, 0, JOIN)}, most of it in its first " in fresh, fresh
    into = int(re.search(r"most of it in its first ([\d,]+) steps", fresh)[1].replace(",", ""))
    assert 100 <= into <= 300
    assert "held near" not in fresh and "held near" not in joined
    level = (stretch(store, SWITCH + 1, SWITCH + 100).mean() + stretch(store, END - 99, END).mean()) / 2
    assert f"steps 2,000-3,000: prompt v1.4; general 70%, philosophy 30%: loss held near {num(level)} (" in flat, flat


def test_the_speed_section_says_when_the_machine_was_shared_and_when_training_had_it(phase_log, tmp_path):
    """Run one's segments had about a third of their threads' time under a load average near 8 on 2 cores: shared;
    run two's had 95% under a load below the cores: the machine to itself. Both from the segments' own columns."""
    store, markdown = phase_log
    said = bullets(section(markdown, "Training speed"))
    figures = {}
    for run_id in ("one", "two"):
        share, threads, cores, low, high = one(
            store, "SELECT sum(cpu_seconds) / sum(loop_seconds * threads), max(threads), max(cores), "
                   "least(min(load_start), min(load_end)), greatest(max(load_start), max(load_end)) FROM segments "
                   "WHERE run_id = ?", [run_id])
        figures[run_id] = (f"about {100 * share:.0f}% of its {threads} threads' time (process CPU time "
                           f"over wall time; 1-minute load average {low:.1f}-{high:.1f} on {cores} cores)")
    assert md(f"Run one: the machine was shared: training had {figures['one']}, so its speed is what other work "
              "left it.") in said
    # said once: not "to itself: training had about 95% ..."
    assert md(f"Run two: training had the machine to itself: {figures['two']}.") in said
    assert "about 34% of its 2 threads' time" in figures["one"] and "about 95%" in figures["two"]
    # each run's own log says it too, under its speed table
    for run_id, said in (("one", "The machine was shared: training had "), ("two", "Training had the machine to itself: ")):
        own = Path(write_report(store.home, run_id, tmp_path / run_id)["markdown"]).read_text()
        assert md(said + figures[run_id]) in section(own, "Runs and speed"), run_id


def test_the_phase_log_closes_with_a_summary_of_claims_that_recompute(phase_log):
    """The closing summary restates registry claims over the phase read as one run, each recomputed here: the
    join, the loss's bucket medians, val bpb first and last, philosophy's uptake (after the prompt change), the
    unread high finding and gender's drift; what to do next follows from them."""
    store, markdown = phase_log
    whole = read_whole(store, gather_phase(store, "honest"))
    found = claims(whole)
    said = summary_claims(whole, found)
    assert section(markdown, "Summary").split("\n---")[0].strip() == md(" ".join(c.text + "." for c in said))
    by = {c.name: c for c in found}
    assert all(set(c.facts["claims"]) <= set(by) for c in said)
    head, tail = stretch(store, 1, END // 10), stretch(store, END - END // 10 + 1, END)
    assert by["loss"].facts["first"] == pytest.approx(head.mean()) and by["loss"].facts["last"] == pytest.approx(
        tail.mean())
    (first, last), = store.query("SELECT arg_min(value, step), arg_max(value, step) FROM evals WHERE name = "
                                 "'val_bpb'")[1]
    did, watch, next_ = (c.text for c in said)
    assert did == (f"Over steps 0-3,000: philosophy joined the mix at step {JOIN:,}; the loss fell from "
                   f"{num(head.mean())} to {num(tail.mean())} (its first and last 300 steps); val bpb went {num(first)} -> "
                   f"{num(last)}; philosophy surfaced in the model's reflections (right after a config change, so not "
                   "by the source alone)")
    (step,), = store.query("SELECT step FROM bias_events WHERE severity = 'high'")[1]
    assert watch.startswith(f"To look at: the bias detector's high grade at step {step:,}, which no review has read; "
                            "gender's probe drift of ")
    # flat over only its last ~500 steps of 3,000: too late in the range to call a plateau, so not "held"
    settled = by["loss"].facts["settled"]
    assert 2_000 < settled < END
    assert next_ == (f"Next: read those findings first; train further: the loss settled only from step {settled:,} of "
                     "3,000, too late in the range to call it a plateau")


def test_a_phase_of_one_segment_states_levels_and_has_no_summary_to_pad(tmp_path):
    """Cut to its first segment (one evaluation, one self-play, a flat loss, one healthy check), the phase log says
    each evaluation as a level at its step, not as a change to itself; its summary says only what was measured as
    a change (the loss, over its tenths), not val bpb's one evaluation; and it has no health chart."""
    store = synthesise_phase(tmp_path)
    for table in ("metrics", "evals", "reflections", "uptake", "bias_events", "loop_events", "segments"):
        store.execute(f"DELETE FROM {table} WHERE {'end_step' if table == 'segments' else 'step'} > {SEGMENT}")
    store.execute(f"DELETE FROM data_mix WHERE segment_start >= {SEGMENT}")
    store.execute("DELETE FROM runs WHERE run_id = 'two'")
    store.replace_rows("health", [{"run_id": "one", "step": SEGMENT, "segment_start": 0, "status": "healthy",
                                   "reasons": "[]", "sentence": "all signals normal"}], "true", [])
    markdown = Path(write_phase_report(tmp_path, "honest")["markdown"]).read_text()
    check_sections(markdown)
    (bpb,), = store.query("SELECT value FROM evals WHERE name = 'val_bpb'")[1]
    assert f"val bpb {num(bpb)} at step 500;" in section(markdown, "Key runs")
    assert "in 1 run and 1 segment," in section(markdown, "Phase overview")
    assert section(markdown, "Summary").split("\n---")[0].strip() == \
        "Over steps 0-500: the loss did not move beyond its noise."
    # healthy at every check: the chart it would draw (green dots) says nothing more, so the log leaves it out
    whole = read_whole(store, gather_phase(store, "honest"))
    assert whole.health and health_chart(whole) is None and "health.png" not in model_charts(whole)
    assert "health.png" not in markdown
