"""The report's charts as PNG bytes (matplotlib, Agg). Deterministic: no software/date metadata in the PNG and a
fixed SVG hash salt, so the same store draws the same bytes. A chart whose data is absent is not drawn."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from phaselog.reports.events import loop_share_points  # noqa: E402
from phaselog.reports.gather import ReportData  # noqa: E402
from phaselog.reports.numbers import mfu_percent  # noqa: E402
from phaselog.reports.source_joins import joins  # noqa: E402

matplotlib.rcParams.update({"svg.hashsalt": "phaselog", "figure.dpi": 100, "font.size": 9,
                            "path.simplify": True, "agg.path.chunksize": 10000})
HEALTH_LEVELS = {"healthy": 0, "needs attention": 1, "needs_attention": 1, "critical": 2}
HEALTH_COLOURS = ["#4c9a5b", "#e0a030", "#c23b3b"]


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def mark_segments(ax, data: ReportData, legend: bool = True) -> None:
    for i, s in enumerate(data.segments[1:]):
        ax.axvline(s["start_step"], color="#bbbbbb", linewidth=0.6, zorder=0,
                   label="segment boundary" if legend and i == 0 else "_nolegend_")


def mark_steps(ax, step_values: list[int], label: str, **style) -> None:
    """One vertical line per step, one legend entry for them all; nothing at all when there are no steps."""
    for i, step in enumerate(step_values):
        ax.axvline(step, label=label if i == 0 else "_nolegend_", **style)


def mark_joins(ax, joined: list[dict]) -> None:
    """A green dotted line and a label at each source's join ({source, step}), one legend entry for them all."""
    mark_steps(ax, [j["step"] for j in joined], "source joins: " + ", ".join(sorted({j["source"] for j in joined})),
               color="#2e8b57", linestyle=":", linewidth=1.4)
    for j in joined:
        ax.annotate(f"{j['source']} joins", (j["step"], 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=8, color="#2e8b57")


def legend(axes: list, **kwargs) -> None:
    """One legend naming exactly the labelled artists drawn on `axes` (the first axes holds it)."""
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    if handles:
        axes[0].legend(handles, labels, fontsize=8, **kwargs)


def loss_chart(data: ReportData):
    m = data.metrics
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(m["step"], m["loss"], color="#3b6ea5", linewidth=0.6, label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    mark_segments(ax, data)
    mark_joins(ax, joins(data))
    # probe rows are measurements at every segment end, not findings
    findings = sorted({int(e["step"]) for e in data.bias_events or []
                       if e["source"] != "probe" and e["step"] is not None})
    mark_steps(ax, findings, "bias finding", color="#c23b3b", linestyle="--", linewidth=0.8)
    reviews = sorted({int(r["step"]) for r in data.reviews or [] if r["step"] is not None})
    mark_steps(ax, reviews, "review", color="#7b4fa0", linestyle="-.", linewidth=1.0)
    axes = [ax]
    bpb = [(e["step"], e["value"]) for e in data.evals if e["name"] == "val_bpb"]
    if bpb:
        right = ax.twinx()
        right.plot(*zip(*bpb), color="#d07a2c", marker="o", markersize=3, linewidth=1, label="val bpb")
        right.set_ylabel("val bpb")
        axes.append(right)
    legend(axes, loc="upper right")
    ax.set_title("Loss and validation bpb")
    return fig


def speed_chart(data: ReportData):
    m = data.metrics
    mfu, basis = mfu_percent(data)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True)
    top.plot(m["step"], m["tokens_per_sec"], color="#3b6ea5", linewidth=0.6, label="tokens/sec")
    top.set_ylabel("tokens/sec")
    bottom.plot(m["step"], mfu, color="#d07a2c", linewidth=0.6, label=f"MFU (%), {basis['short']}")
    bottom.set_ylabel("MFU (%)")
    bottom.set_xlabel("step")
    for ax in (top, bottom):
        mark_segments(ax, data, legend=ax is top)
        legend([ax], loc="lower right")
    top.set_title("Training speed")
    return fig


def activation_chart(data: ReportData):
    rows = [r for r in data.activation or [] if r["rms"] is not None]
    if not rows:
        return None
    step_values = sorted({int(r["step"]) for r in rows})
    layers = sorted({int(r["layer"]) for r in rows})
    grid = np.full((len(layers), len(step_values)), np.nan)
    column = {s: i for i, s in enumerate(step_values)}
    row_of = {layer: i for i, layer in enumerate(layers)}
    for r in rows:
        grid[row_of[int(r["layer"])], column[int(r["step"])]] = r["rms"]
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.3 * len(layers) + 1.2))
    # log colour scale: one late layer at 69k would otherwise flatten every other layer to one colour
    image = ax.imshow(np.log10(np.maximum(grid, 1e-12)), aspect="auto", origin="lower", cmap="viridis",
                      extent=(step_values[0], step_values[-1], layers[0] - 0.5, layers[-1] + 0.5),
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="log10 RMS")
    ax.set_yticks(layers)  # layers are whole numbers: no tick at layer 0.5
    ax.set_xlabel("step")
    ax.set_ylabel("layer")
    ax.set_title("Activation RMS per layer")
    return fig


def health_chart(data: ReportData):
    """Each health check's status over the steps; None when every check was healthy: a row of green dots says no
    more than the understanding table's "healthy" per third."""
    rows = [r for r in data.health or [] if r["status"] in HEALTH_LEVELS]
    if all(r["status"] == "healthy" for r in rows):
        return None
    levels = [HEALTH_LEVELS[r["status"]] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 1.8))
    ax.scatter([r["step"] for r in rows], levels, c=[HEALTH_COLOURS[v] for v in levels], s=18)
    ax.set_yticks([0, 1, 2], ["healthy", "needs attention", "critical"])
    ax.set_ylim(-0.5, 2.5)
    ax.set_xlabel("step")
    mark_segments(ax, data, legend=False)  # the y ticks name the points; grey lines need no legend here
    ax.set_title("Health (grey: segment boundaries)" if len(data.segments) > 1 else "Health")
    return fig


def loop_chart(data: ReportData):
    """The share of reflections that loop at each self-play step, with their seq-rep-4; None when none looped (the
    loops section says so in a sentence: a chart of nothing carries no information)."""
    rows = data.reflections or []
    shares = loop_share_points(data)
    if not any(share for _, share in shares):
        return None
    fig, ax = plt.subplots(figsize=(9, 2.6))
    ax.set_xlabel("step")
    ax.set_title("Loops in the reflections")
    ax.plot(*zip(*shares), color="#c23b3b", marker="o", markersize=4, linewidth=1,
            label="share of reflections looping")
    rep = [(r["step"], r["seq_rep_4"]) for r in rows if r["seq_rep_4"] is not None]
    if rep:
        ax.scatter(*zip(*rep), s=10, color="#3b6ea5", label="seq-rep-4 of each reflection")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("share / score (0-1)")
    legend([ax], loc="upper left")
    return fig


def figures(data: ReportData) -> dict:
    """name -> matplotlib figure, for the charts whose data is present (tests inspect these)."""
    drawn = {"loss.png": loss_chart(data), "speed.png": speed_chart(data),
             "activation_rms.png": activation_chart(data), "health.png": health_chart(data),
             "loops.png": loop_chart(data)}
    return {name: fig for name, fig in drawn.items() if fig is not None}


def draw_all(data: ReportData) -> dict[str, bytes]:
    return {name: png(fig) for name, fig in figures(data).items()}
