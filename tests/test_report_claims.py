"""The report tells the truth: every TL;DR and overview sentence is a registered claim, and each claim's figures are
recomputed here from the store (and the trainer's per-step token counts) with this file's own SQL; the charts
draw what their legends name. Runs: the demo-like tiny run (philosophy joins at a segment boundary), a run whose
sources join inside the first segment and mid-segment, and the synthesised long phase."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from phaselog.core.runs import read_segment_metrics
from phaselog.core.store import Store
from phaselog.reports.build import write_report
from phaselog.reports.charts import figures
from phaselog.reports import training_sections
from phaselog.reports.claims import GROUPS, claims, period_claim, summary_claims
from phaselog.reports.document import md
from phaselog.reports.gather import gather
from phaselog.reports.synthetic import synthesise_store


@pytest.fixture(scope="module")
def synthetic_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("claims-synthetic")
    synthesise_store(home, "synthetic", steps=4000, layers=4, start_step=10_000)
    return home


def one(store: Store, sql: str, params: list):
    return store.query(sql, params)[1][0]


def section(markdown: str, heading: str) -> str:
    return markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def bullets(text: str) -> list[str]:
    return [line[2:] for line in text.splitlines() if line.startswith("- ")]


def run_config(store: Store, run_id: str) -> dict:
    return json.loads(one(store, "SELECT config_json FROM runs WHERE run_id = ?", [run_id])[0])


def recompute_join(store: Store, run_id: str, source: str) -> dict:
    """From the trainer's own per-step token counts: the first step that drew the source, and its share after."""
    run_dir = Path(one(store, "SELECT run_dir FROM runs WHERE run_id = ?", [run_id])[0])
    table = read_segment_metrics(run_dir, 0, 10 ** 9).to_pylist()
    mine = [r for r in table if r[f"tokens/{source}"]]
    # update step s draws batch position s-1: the source's step is one before the first update it fed
    first = min(r["step"] for r in mine) - 1
    after = [r for r in table if r["step"] > first]
    total = sum(v for r in after for k, v in r.items() if k.startswith("tokens/"))
    return {"step": first, "share": sum(r[f"tokens/{source}"] for r in after) / total}


SIGNAL_SQL = {
    "loss": "SELECT step, loss FROM metrics WHERE run_id = ?",
    "grad norm": "SELECT step, grad_norm FROM metrics WHERE run_id = ?",
    "val bpb": "SELECT step, value FROM evals WHERE run_id = ? AND name = 'val_bpb'",
    "shimmer (mean over layers)": "SELECT step, avg(shimmer) FROM shimmer_history WHERE run_id = ? GROUP BY step",
}


def series(store: Store, run_id: str, name: str) -> dict[int, float]:
    if name.startswith("activation RMS L"):
        sql = (f"SELECT step, avg(rms) FROM activation_stats WHERE run_id = ? AND layer = {int(name[16:])} "
               "GROUP BY step")
    else:
        assert name in SIGNAL_SQL, f"coupling signal {name!r} has no recomputation in this test: add one"
        sql = SIGNAL_SQL[name]
    return {int(s): float(v) for s, v in store.query(sql, [run_id])[1] if v is not None and np.isfinite(v)}


def without_trend(values: np.ndarray, step: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones_like(step), step])
    coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ coefficients


def batch_se(values: np.ndarray) -> float:
    """A stretch's standard error from 10 consecutive batch means (fewer values: one a batch)."""
    means = [b.mean() for b in np.array_split(values, min(10, values.size))]
    return float(np.std(means, ddof=1) / np.sqrt(len(means)))


def apart(a: np.ndarray, b: np.ndarray) -> bool:
    return abs(a.mean() - b.mean()) > 3 * math.hypot(batch_se(a), batch_se(b))


def recompute_trend(store: Store, run_ids: list[str], start: int, end: int) -> dict:
    """How the loss went over the steps (start, end]: its tenths (at least 5 steps each, the last ending at `end`),
    the first and last one's means with their standard errors, and for a change the first tenth from which on none
    is apart from the last; for none, whether every tenth is within noise of the first and the last."""
    count = min(10, (end - start) // 5)
    width = (end - start) // count
    bounds = [(start + j * width, start + (j + 1) * width) for j in range(count - 1)] + [(end - width, end)]
    marks = ", ".join("?" * len(run_ids))
    tenths = [np.array([v for (v,) in store.query(f"SELECT loss FROM metrics WHERE run_id IN ({marks}) AND step > ? "
                                                   "AND step <= ? ORDER BY step", [*run_ids, a, b])[1]])
              for a, b in bounds]
    moved = apart(tenths[0], tenths[-1])
    settled = next((bounds[j][0] for j in range(1, count) if not any(apart(t, tenths[-1]) for t in tenths[j:])),
                   None) if moved else None
    still = None
    if moved:
        # the settled stretch's two halves apart in the change's direction, or only the last tenth settled
        rest = np.array([v for (v,) in store.query(f"SELECT loss FROM metrics WHERE run_id IN ({marks}) AND step > ? "
                                                   "AND step <= ? ORDER BY step", [*run_ids, settled, end])[1]])
        halves = np.array_split(rest, 2)
        still = settled == end - width or (apart(*halves) and (halves[1].mean() - halves[0].mean()) * (
            tenths[-1].mean() - tenths[0].mean()) > 0)
    return {"width": width, "first": tenths[0].mean(), "first_se": batch_se(tenths[0]), "last": tenths[-1].mean(),
            "last_se": batch_se(tenths[-1]), "moved": moved, "settled": settled, "still": still,
            "flat": None if moved else not any(apart(t, tenths[0]) or apart(t, tenths[-1]) for t in tenths)}


def recompute(store: Store, run_id: str, claim) -> dict:
    """The claim's facts, from the store with this test's own queries."""
    kind = claim.name.split("/")[0]
    config = run_config(store, run_id)
    if kind == "loss":
        start, end = one(store, "SELECT start_step, max(step) FROM runs JOIN metrics USING (run_id) WHERE run_id = ? "
                                "GROUP BY ALL", [run_id])
        return recompute_trend(store, [run_id], start, end)
    if kind == "period":
        start, end = (int(x) for x in claim.name.split("/")[1].split("-"))
        return recompute_trend(store, [run_id], start, end)
    if kind == "val_bpb":
        rows = store.query("SELECT step, value FROM evals WHERE run_id = ? AND name = 'val_bpb' ORDER BY step",
                           [run_id])[1]
        return {"first_step": rows[0][0], "first": rows[0][1], "last_step": rows[-1][0], "last": rows[-1][1]}
    if kind == "join":
        source = claim.name.split("/", 1)[1]
        configured = next(s for s in config["data"]["sources"] if s["name"] == source)["start_step"]
        if source == (config.get("review") or {}).get("counterexample_source"):
            configured = one(store, "SELECT min(step) FROM reviews WHERE run_id = ? AND decision = "
                                    "'resume_with_counterexamples'", [run_id])[0]
        run_dir = one(store, "SELECT run_dir FROM runs WHERE run_id = ?", [run_id])[0]
        if not run_dir or not Path(run_dir).is_dir():
            return {"step": configured}  # the synthesised store has no run folder: the configured step only
        found = recompute_join(store, run_id, source)
        assert found["step"] == configured, "the first step that drew the source is its configured start"
        return found
    if kind == "leave":
        source = claim.name.split("/", 1)[1]
        return {"step": next(s for s in config["data"]["sources"] if s["name"] == source)["end_step"]}
    if kind == "health":
        unhealthy, checks, first = one(store, "SELECT count(*) FILTER (status != 'healthy'), count(*), "
                                              "min(step) FILTER (status != 'healthy') FROM health WHERE run_id = ?",
                                       [run_id])
        return {"unhealthy": unhealthy, "checks": checks, "first_step": first}
    if kind == "bias":
        findings, high = one(store, "SELECT count(*), count(*) FILTER (severity = 'high') FROM bias_events "
                                    "WHERE run_id = ? AND source != 'probe'", [run_id])
        unread = [s for (s,) in store.query(
            "SELECT DISTINCT b.step FROM bias_events b LEFT JOIN reviews r ON r.run_id = b.run_id AND r.step = b.step "
            "WHERE b.run_id = ? AND b.source != 'probe' AND b.severity = 'high' AND r.decision IS NULL ORDER BY 1",
            [run_id])[1]]
        return {"findings": findings, "high": high, "unread_steps": unread,
                "reviews": one(store, "SELECT count(*) FROM reviews WHERE run_id = ?", [run_id])[0]}
    if kind == "signature":
        # the report's rule, as SQL: a loop event, seq-rep-4 >= 0.3 or compression >= 10 make it a loop
        rows = store.query(
            "SELECT CASE WHEN coalesce(l.looped, false) OR r.seq_rep_4 >= 0.3 OR r.compression_ratio >= 10 "
            "THEN 'repetition loops' WHEN r.formatting_score >= 0.3 THEN 'structured formatting' ELSE 'plain prose' "
            "END AS kind, count(*) FROM reflections r LEFT JOIN (SELECT step, item, bool_or(is_loop) AS looped "
            "FROM loop_events WHERE run_id = ? AND source = 'reflection' GROUP BY ALL) l "
            "ON l.step = r.step AND l.item = r.step || ':' || r.sample_index WHERE r.run_id = ? "
            "GROUP BY kind ORDER BY 2 DESC, 1", [run_id, run_id])[1]
        return {"signature": rows[0][0], "count": rows[0][1], "of": sum(n for _, n in rows)}
    if kind == "event":
        x, w = claim.facts["step"], claim.facts["window"]
        before, after = one(store, "SELECT median(loss) FILTER (step > ? AND step <= ?), median(loss) FILTER "
                                   "(step > ? AND step <= ?) FROM metrics WHERE run_id = ?",
                            [x - w, x, x, x + w, run_id])
        shares = {}
        for source in claim.facts["shares"]:
            run_dir = one(store, "SELECT run_dir FROM runs WHERE run_id = ?", [run_id])[0]
            if run_dir and Path(run_dir).is_dir():
                shares[source] = recompute_join(store, run_id, source)["share"]
            else:  # the synthesised store joins at a segment boundary: its data_mix rows from then on
                shares[source] = one(store, "SELECT sum(tokens) FILTER (source = ?) / sum(tokens) FROM data_mix "
                                            "WHERE run_id = ? AND segment_start >= ?", [source, run_id, x])[0]
        return {"loss_before": before, "loss_after": after, "shares": pytest.approx(shares, rel=1e-9)}
    if kind == "coupling":
        a, b = series(store, run_id, claim.facts["a"]), series(store, run_id, claim.facts["b"])
        shared = sorted(set(a) & set(b))
        x, y, t = (np.array(v, dtype=float) for v in ([a[s] for s in shared], [b[s] for s in shared], shared))
        partial = float(np.corrcoef(without_trend(x, t), without_trend(y, t))[0, 1])
        # Fisher's z of a partial r with one variable partialled out: standard error 1 / sqrt(n - 4)
        return {"n": len(shared), "r": float(np.corrcoef(x, y)[0, 1]), "partial": partial,
                "p": math.erfc(abs(math.atanh(partial)) * math.sqrt(len(shared) - 4) / math.sqrt(2))}
    if kind == "uptake":
        # the last step's row, and its status derived here from the numbers as docs/understanding.md does
        step, score, low, high, auc, joined = store.query(
            "SELECT step, score, band_low, band_high, auc, joined_step FROM uptake WHERE run_id = ? AND source = ? "
            "ORDER BY step DESC LIMIT 1", [run_id, claim.name.split("/", 1)[1]])[1][0]
        status = ("not_joined" if joined is None or step <= joined else
                  "undecidable" if auc is None or auc < 0.8 or high is None else
                  "surfaced" if score > high else "not_yet")
        return {"step": step, "score": score, "band_low": low, "band_high": high, "auc": auc, "status": status}
    if kind == "probe_drift":
        # the category's first and last probe rows against the other categories' at the same two steps, weighted
        # by their pairs; the change's error: every row's error in quadrature, the others' weighted
        category = claim.name.split("/", 1)[1]
        young = (config.get("review") or {}).get("probe_min_step", 500)  # the detector judges from there on
        rows = store.query("SELECT step, value, stderr FROM bias_events WHERE run_id = ? AND source = 'probe' AND "
                           "category = ? AND step >= ? ORDER BY step", [run_id, category, young])[1]
        (first_step, first, first_se), (last_step, last, last_se) = rows[0], rows[-1]
        others, rest_var = one(store, "SELECT sum(p * (b.value - a.value)) / sum(p), sum(p * p * (a.stderr ^ 2 + "
                                      "b.stderr ^ 2)) / sum(p) ^ 2 FROM (SELECT category, value, stderr, "
                                      "CAST(json_extract(terms, '$.pairs') AS DOUBLE) AS p FROM bias_events WHERE "
                                      "run_id = ? AND source = 'probe' AND step = ?) a JOIN bias_events b USING "
                                      "(category) WHERE b.run_id = ? AND b.source = 'probe' AND b.step = ? AND "
                                      "category NOT IN ('all', ?)", [run_id, first_step, run_id, last_step, category])
        categories = one(store, "SELECT count(DISTINCT category) FROM bias_events WHERE run_id = ? AND source = "
                                "'probe' AND category <> 'all'", [run_id])[0]
        return {"first_step": first_step, "last_step": last_step, "first": first, "last": last, "others": others,
                "z": (last - first - others) / math.sqrt(first_se ** 2 + last_se ** 2 + rest_var),
                "categories": categories}
    raise AssertionError(f"claim {claim.name!r} has no recomputation in this test: add one")


def check_claims(home: Path, run_id: str, tmp_path: Path) -> list:
    store = Store(home)
    data = gather(store, run_id)
    found = claims(data)
    # how the loss went over each period of "What we changed and why"
    periods = [c for c in (period_claim(data, p["start"], p["end"]) for p in training_sections.periods(data)) if c]
    for claim in found + periods:
        for key, expected in recompute(store, run_id, claim).items():
            stated = claim.facts[key]
            if isinstance(expected, float):
                assert stated == pytest.approx(expected, rel=1e-9), (claim.name, key, claim.text)
            else:
                assert stated == expected, (claim.name, key, claim.text)
    for said in summary_claims(data, found):
        # a closing-summary sentence restates claims recomputed above, and only those that passed their tests
        backing = [c for c in found if c.name in said.facts["claims"]]
        assert len(backing) == len(said.facts["claims"]) >= 1, said.text
    markdown = Path(write_report(home, run_id, tmp_path)["markdown"]).read_text()
    noteworthy = {md(c.text + "."): c for c in found if c.noteworthy}
    tldr = bullets(section(markdown, "TL;DR"))
    assert 1 <= len(tldr) <= 5 and set(tldr) <= set(noteworthy), "a TL;DR sentence that is not a noteworthy claim"
    order = [GROUPS.index(noteworthy[b].group) for b in tldr]
    assert order == sorted(order), "the TL;DR is not ranked: what changed, mattered, the model, attention"
    changed = section(markdown, "What we changed and why")
    assert set(bullets(changed)) <= {md(c.text + ".") for c in found}, "a sentence about what changed that is not a claim"
    assert all(f"| {md(c.text)} |" in changed for c in periods), "a period without its loss trend"
    return found


def test_demo_like_run_claims_recompute_from_the_store(tiny_run, tmp_path):
    home, run_id, _ = tiny_run
    found = {c.name: c for c in check_claims(home, run_id, tmp_path)}
    assert found["join/philosophy"].facts["step"] == 20
    assert "Philosophy joined the mix at step 20 (" in found["join/philosophy"].text
    # the join is tied to what changed around it: with the numbers, or saying nothing went beyond noise
    event = found["event/20/join"].text
    assert event.startswith("At step 20 philosophy joined the mix, ") and "(loss median " in event
    assert ": nothing changed beyond the run's own noise" in event or "rose" in event or "fell" in event \
        or "jumped" in event or "dropped" in event or "slope went" in event or "went from" in event


def test_sources_joining_inside_the_first_segment_and_mid_segment_are_claimed_at_their_own_step(join_run, tmp_path):
    home, run_id, _ = join_run
    found = {c.name: c for c in check_claims(home, run_id, tmp_path)}
    assert found["join/meditations"].facts["step"] == 10   # inside the first segment (0, 20]
    assert found["join/philosophy"].facts["step"] == 30    # mid-segment in (20, 40]
    markdown = (tmp_path / "phase-log.md").read_text()
    overview = section(markdown, "What we changed and why")
    assert "meditations joined at step 10" in overview and "philosophy joined at step 30" in overview
    for step, source in ((10, "meditations"), (30, "philosophy")):
        text = found[f"event/{step}/join"].text
        assert text.startswith(f"At step {step} {source} joined the mix, ") and "(loss median " in text
        assert "too few quiet stretches" not in text  # 60 steps leave enough quiet points to judge the noise
    # the share from the join on is higher than the share over the whole segment that data_mix holds
    _, [(segment_share,)] = Store(home).query("SELECT share FROM data_mix WHERE run_id = ? AND segment_start = 20 "
                                              "AND source = 'philosophy'", [run_id])
    assert found["join/philosophy"].facts["share"] > segment_share


def test_synthesised_phase_claims_recompute_from_the_store(synthetic_home, tmp_path):
    found = {c.name: c for c in check_claims(synthetic_home, "synthetic", tmp_path)}
    assert found["join/philosophy"].facts == {"step": 11_000, "share": pytest.approx(0.3, abs=1e-6)}
    assert found["bias"].facts == {"findings": 2, "high": 1, "reviews": 1, "unread_steps": []}


# --- charts -----------------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def close_figures():
    """figures() hands back open matplotlib figures for inspection; close them after each test."""
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


def drawn_labels(fig) -> list[str]:
    """Labels of the artists that hold data on the figure's axes (lines with points, non-empty collections)."""
    out = []
    for ax in fig.axes:
        for line in ax.get_lines():
            if len(line.get_xdata()) and not line.get_label().startswith("_"):
                out.append(line.get_label())
        for collection in ax.collections:
            if len(collection.get_offsets()) and not collection.get_label().startswith("_"):
                out.append(collection.get_label())
    return out


def legend_labels(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def check_legends(data) -> dict:
    drawn = figures(data)
    for name, fig in drawn.items():
        labels = legend_labels(fig)
        assert len(labels) == len(set(labels)), (name, labels)
        assert sorted(labels) == sorted(drawn_labels(fig)), (name, "legend and drawn series differ")
    return drawn


def vertical_lines(ax, label_prefix: str) -> list[float]:
    """x of every line drawn in the style of the one labelled `label_prefix...` (one legend entry, many lines)."""
    lines = ax.get_lines()
    first = [line for line in lines if line.get_label().startswith(label_prefix)]
    style = (first[0].get_color(), first[0].get_linestyle()) if first else None
    return sorted(float(line.get_xdata()[0]) for line in lines
                  if style and (line.get_color(), line.get_linestyle()) == style)


def test_charts_of_the_demo_like_run_name_exactly_what_they_draw(tiny_run):
    home, run_id, _ = tiny_run
    store = Store(home)
    data = gather(store, run_id)
    drawn = check_legends(data)
    loss_ax = drawn["loss.png"].axes[0]
    labels = legend_labels(drawn["loss.png"])
    assert "source joins: philosophy" in labels and vertical_lines(loss_ax, "source joins") == [20.0]
    assert vertical_lines(loss_ax, "segment boundary") == [20.0, 40.0]
    findings = one(store, "SELECT count(*) FROM bias_events WHERE run_id = ? AND source != 'probe'", [run_id])[0]
    assert ("bias finding" in labels) == (findings > 0)  # probe rows are not findings
    assert ("review" in labels) == (one(store, "SELECT count(*) FROM reviews WHERE run_id = ?", [run_id])[0] > 0)
    speed = drawn["speed.png"]
    assert len(speed.axes) == 2 and all(ax.get_legend() for ax in speed.axes)
    assert legend_labels(speed)[0] == "tokens/sec" and legend_labels(speed)[-1].startswith("MFU (%)")
    # on a CPU the MFU peak is never beaten by the run itself
    assert np.nanmax(speed.axes[1].get_lines()[0].get_ydata()) <= 100
    layers = one(store, "SELECT list(DISTINCT layer ORDER BY layer) FROM activation_stats WHERE run_id = ?",
                 [run_id])[0]
    assert list(drawn["activation_rms.png"].axes[0].get_yticks()) == layers
    # a reflection loops by the report's rule (a loop event, seq-rep-4 >= 0.3 or compression >= 10); with none, the
    # loops section's sentence says so, and there is no chart of nothing
    looping = one(store, "SELECT count(*) FROM reflections r WHERE run_id = ? AND (seq_rep_4 >= 0.3 OR "
                         "compression_ratio >= 10 OR EXISTS (SELECT 1 FROM loop_events l WHERE l.run_id = r.run_id "
                         "AND l.source = 'reflection' AND l.is_loop AND l.item = r.step || ':' || r.sample_index))",
                  [run_id])[0]
    assert ("loops.png" in drawn) == (looping > 0)
    unhealthy = one(store, "SELECT count(*) FROM health WHERE run_id = ? AND status <> 'healthy'", [run_id])[0]
    assert ("health.png" in drawn) == (unhealthy > 0)  # a row of green dots says no more than the table


def test_charts_of_the_long_phase_mark_findings_reviews_and_loops(synthetic_home):
    data = gather(Store(synthetic_home), "synthetic")
    drawn = check_legends(data)
    labels = legend_labels(drawn["loss.png"])
    assert {"training loss", "val bpb", "segment boundary", "source joins: philosophy", "bias finding",
            "review"} == set(labels)
    assert vertical_lines(drawn["loss.png"].axes[0], "review") == [13_000.0]
    assert set(legend_labels(drawn["loops.png"])) == {"share of reflections looping", "seq-rep-4 of each reflection"}
    assert list(drawn["activation_rms.png"].axes[0].get_yticks()) == [0, 1, 2, 3]


def test_charts_of_the_join_run_name_exactly_what_they_draw(join_run):
    home, run_id, _ = join_run
    drawn = check_legends(gather(Store(home), run_id))
    assert vertical_lines(drawn["loss.png"].axes[0], "source joins") == [10.0, 30.0]
