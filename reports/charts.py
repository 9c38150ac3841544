"""The report's charts as PNG bytes (matplotlib, Agg). Deterministic: no software/date metadata in the PNG and a
fixed SVG hash salt, so the same store draws the same bytes. A chart whose data is absent is not drawn."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from phaselog.reports.gather import ReportData  # noqa: E402

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


def mark_segments(ax, data: ReportData) -> None:
    for s in data.segments[1:]:
        ax.axvline(s["start_step"], color="#bbbbbb", linewidth=0.6, zorder=0)


def loss_chart(data: ReportData) -> bytes:
    m = data.metrics
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(m["step"], m["loss"], color="#3b6ea5", linewidth=0.6, label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    mark_segments(ax, data)
    events = sorted({int(e["step"]) for e in (data.bias_events or []) + (data.reviews or [])
                     if e["step"] is not None})
    for step in events:
        ax.axvline(step, color="#c23b3b", linestyle="--", linewidth=0.8)
    bpb = [(e["step"], e["value"]) for e in data.evals if e["name"] == "val_bpb"]
    handles = ax.get_legend_handles_labels()
    if bpb:
        right = ax.twinx()
        right.plot(*zip(*bpb), color="#d07a2c", marker="o", markersize=3, linewidth=1, label="val bpb")
        right.set_ylabel("val bpb")
        more = right.get_legend_handles_labels()
        handles = (handles[0] + more[0], handles[1] + more[1])
    if events:
        handles = (handles[0] + [plt.Line2D([], [], color="#c23b3b", linestyle="--")],
                   handles[1] + ["bias event / review"])
    ax.legend(*handles, loc="upper right", fontsize=8)
    ax.set_title("Loss and validation bpb (grey: segment boundaries)")
    return png(fig)


def speed_chart(data: ReportData) -> bytes:
    m = data.metrics
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(m["step"], m["tokens_per_sec"], color="#3b6ea5", linewidth=0.6)
    ax.set_ylabel("tokens/sec", color="#3b6ea5")
    ax.set_xlabel("step")
    right = ax.twinx()
    right.plot(m["step"], 100 * m["mfu"], color="#d07a2c", linewidth=0.6)
    right.set_ylabel("MFU (%)", color="#d07a2c")
    mark_segments(ax, data)
    ax.set_title("Training speed")
    return png(fig)


def activation_chart(data: ReportData) -> bytes | None:
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
    ax.set_xlabel("step")
    ax.set_ylabel("layer")
    ax.set_title("Activation RMS per layer")
    return png(fig)


def health_chart(data: ReportData) -> bytes | None:
    rows = [r for r in data.health or [] if r["status"] in HEALTH_LEVELS]
    if not rows:
        return None
    levels = [HEALTH_LEVELS[r["status"]] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 1.8))
    ax.scatter([r["step"] for r in rows], levels, c=[HEALTH_COLOURS[v] for v in levels], s=18)
    ax.set_yticks([0, 1, 2], ["healthy", "needs attention", "critical"])
    ax.set_ylim(-0.5, 2.5)
    ax.set_xlabel("step")
    mark_segments(ax, data)
    ax.set_title("Health")
    return png(fig)


def loop_chart(data: ReportData) -> bytes | None:
    rows = data.reflections or []
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 2.8))
    drawn = False
    for key, colour in (("seq_rep_4", "#3b6ea5"), ("formatting_score", "#4c9a5b")):
        points = [(r["step"], r[key]) for r in rows if r[key] is not None]
        if points:
            ax.scatter(*zip(*points), s=10, color=colour, label=key.replace("_", " "))
            drawn = True
    ax.set_ylabel("score (0-1)")
    compression = [(r["step"], r["compression_ratio"]) for r in rows if r["compression_ratio"] is not None]
    if compression:
        right = ax.twinx()
        right.scatter(*zip(*compression), s=10, marker="x", color="#c23b3b", label="compression ratio")
        right.set_ylabel("compression ratio")
        right.legend(loc="upper right", fontsize=8)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("step")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Loop scores of the reflections")
    return png(fig)


def draw_all(data: ReportData) -> dict[str, bytes]:
    charts = {"loss.png": loss_chart(data), "speed.png": speed_chart(data),
              "activation_rms.png": activation_chart(data), "health.png": health_chart(data),
              "loops.png": loop_chart(data)}
    return {name: image for name, image in charts.items() if image is not None}
