"""Charts of a whole phase: training loss (with val bpb) and val bpb alone, one colour per run, a dashed line
where each continued run takes over from its parent, and on the loss chart a green dotted line where a source
joins. Drawn with the same PNG settings as the run report."""
import matplotlib.pyplot as plt

from phaselog.reports.charts import mark_joins, png
from phaselog.reports.phase_data import PhaseData

COLOURS = ["#3b6ea5", "#d07a2c", "#4c9a5b", "#8a5bb0", "#c23b3b", "#5b9ab0"]


def mark_run_boundaries(ax, data: PhaseData) -> None:
    for run in data.runs[1:]:
        ax.axvline(run["start_step"], color="#555555", linestyle="--", linewidth=0.9)
        ax.annotate(run["run_id"], (run["start_step"], 1), xycoords=("data", "axes fraction"), fontsize=7,
                    rotation=90, va="top", ha="right", color="#555555")


def loss_chart(data: PhaseData, joined: list[dict]):
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for n, run_id in enumerate(data.run_ids):
        points = [(m["step"], m["loss"]) for m in data.metrics if m["run_id"] == run_id]
        if points:
            ax.plot(*zip(*points), color=COLOURS[n % len(COLOURS)], linewidth=0.6, label=f"loss, {run_id}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    mark_run_boundaries(ax, data)
    mark_joins(ax, joined)
    handles, labels = ax.get_legend_handles_labels()
    if data.val_bpb:
        right = ax.twinx()
        right.plot([v["step"] for v in data.val_bpb], [v["value"] for v in data.val_bpb], color="#222222",
                   marker="o", markersize=3, linewidth=1, label="val bpb")
        right.set_ylabel("val bpb")
        more = right.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, loc="upper right", fontsize=8)
    ax.set_title(f"Phase {data.phase}: loss across runs (dashed: a run continues its parent)")
    return fig


def val_chart(data: PhaseData) -> bytes:
    fig, ax = plt.subplots(figsize=(9, 3))
    for n, run_id in enumerate(data.run_ids):
        points = [(v["step"], v["value"]) for v in data.val_bpb if v["run_id"] == run_id]
        if points:
            ax.plot(*zip(*points), color=COLOURS[n % len(COLOURS)], marker="o", markersize=3, label=run_id)
    ax.set_xlabel("step")
    ax.set_ylabel("val bpb")
    mark_run_boundaries(ax, data)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"Phase {data.phase}: validation bpb per run")
    return png(fig)


def draw_phase_charts(data: PhaseData, joined: list[dict]) -> dict[str, bytes]:
    """`joined`: {source, step} of each source that joined during the phase."""
    images = {}
    if data.metrics:
        images["phase_loss.png"] = png(loss_chart(data, joined))
    if data.val_bpb:
        images["phase_val.png"] = val_chart(data)
    return images
