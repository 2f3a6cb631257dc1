"""Plots rendered on the server as SVG (matplotlib, no browser library, no CDN).

Pages show them with <img>, so the SVG's own styling never meets the page's
Content-Security-Policy, and the same URL is the download.
"""

from __future__ import annotations

import io


def _figure(width: float = 6.4, height: float = 3.0):
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in web and worker processes
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(figure) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})  # no timestamp: same data, same bytes
    return out.getvalue()


def loss_curve_svg(points, *, title: str = "Training loss") -> str:
    """The training loss per optimiser step, and the learning rate on a second axis when the
    points carry it: `points` is [[step, loss], ...] or [[step, loss, learning rate], ...].
    An empty plot says so."""
    figure = _figure()
    axes = figure.add_subplot()
    if points:
        steps, losses = [p[0] for p in points], [p[1] for p in points]
        axes.plot(steps, losses, color="#3b5b92", linewidth=1.5, label="loss")
        axes.set_xlim(left=0)
        rates = [(p[0], p[2]) for p in points if len(p) > 2 and p[2] is not None]
        if rates:
            rate_axes = axes.twinx()
            rate_axes.plot(*zip(*rates, strict=True), color="#d9822b", linewidth=1.0, linestyle="--")
            rate_axes.set_ylabel("learning rate (dashed)", color="#d9822b")
            rate_axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
            rate_axes.set_ylim(bottom=0)
    else:
        axes.text(0.5, 0.5, "No loss reported yet", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    return _svg(figure)


PALETTE = ("#3b5b92", "#d9822b", "#2e8b57", "#a23b72", "#6c757d", "#c0392b", "#16a085", "#8e6c8a")


def _label(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bars_svg(summaries, *, criteria: list[str], conditions: list[str], title: str = "") -> str:
    """One panel per criterion: each condition's estimate with its 95% interval as an error bar.

    `summaries` has the columns of modeling.stats.summarize (one domain's rows). Rates and means
    live on different scales, so each criterion gets its own axis.
    """
    import numpy as np

    shown = [c for c in criteria if not summaries.empty and c in set(summaries["criterion"])]
    figure = _figure(width=max(6.4, 2.2 * max(len(shown), 1)), height=3.4)
    if not shown:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "No scores yet", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return _svg(figure)
    panels = figure.subplots(1, len(shown), squeeze=False)[0]
    for axes, criterion in zip(panels, shown, strict=True):
        rows = summaries[summaries["criterion"] == criterion].set_index("condition").reindex(conditions)
        estimate = rows["estimate"].to_numpy(dtype=float)
        low = np.clip(estimate - rows["ci_low"].to_numpy(dtype=float), 0, None)
        high = np.clip(rows["ci_high"].to_numpy(dtype=float) - estimate, 0, None)
        positions = np.arange(len(conditions))
        axes.bar(positions, estimate, color=[PALETTE[i % len(PALETTE)] for i in positions])
        axes.errorbar(positions, estimate, yerr=[np.nan_to_num(low), np.nan_to_num(high)], fmt="none", color="black")
        axes.set_title(criterion.replace("_", " "))
        axes.set_xticks(positions, [_label(c, 18) for c in conditions], rotation=35, ha="right", fontsize=7)
        axes.grid(axis="y", alpha=0.3)
    if title:
        figure.suptitle(title)
    return _svg(figure)


def heatmap_svg(matrix, *, title: str, value_format: str = "{:.2f}") -> str:
    """A domain × condition heat map; `matrix` is a DataFrame (rows domains, columns conditions)."""
    import numpy as np

    figure = _figure(width=max(6.4, 1.3 * max(len(matrix.columns), 1) + 2), height=max(2.6, 0.45 * len(matrix) + 1.4))
    axes = figure.add_subplot()
    if matrix.empty:
        axes.text(0.5, 0.5, "No scores yet", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return _svg(figure)
    values = matrix.to_numpy(dtype=float)
    image = axes.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(matrix.columns)), [_label(str(c), 18) for c in matrix.columns], rotation=35, ha="right")
    axes.set_yticks(range(len(matrix.index)), [str(i) for i in matrix.index])
    for (row, column), value in np.ndenumerate(values):
        if not np.isnan(value):
            axes.text(column, row, value_format.format(value), ha="center", va="center", color="white", fontsize=8)
    figure.colorbar(image, ax=axes)
    axes.set_title(title)
    return _svg(figure)


def trend_svg(series, *, title: str, ylabel: str) -> str:
    """Each condition's estimate over rounds; `series` maps condition -> [(round label, est, low, high)]."""
    import numpy as np

    figure = _figure(width=7.0, height=3.4)
    axes = figure.add_subplot()
    labels = []
    for points in series.values():
        for label, *_ in points:
            if label not in labels:
                labels.append(label)
    if not labels:
        axes.text(0.5, 0.5, "No rated rounds yet", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return _svg(figure)
    for index, (condition, points) in enumerate(series.items()):
        x = [labels.index(p[0]) for p in points]
        estimate = np.array([p[1] for p in points], dtype=float)
        low = np.array([p[2] for p in points], dtype=float)
        high = np.array([p[3] for p in points], dtype=float)
        color = PALETTE[index % len(PALETTE)]
        axes.plot(x, estimate, marker="o", color=color, label=_label(condition))
        axes.fill_between(x, low, high, color=color, alpha=0.15)
    axes.set_xticks(range(len(labels)), [_label(lbl, 20) for lbl in labels], rotation=25, ha="right", fontsize=8)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return _svg(figure)


def confusion_svg(matrix, *, title: str) -> str:
    """A judge–human confusion matrix: rows the humans' consensus, columns the judge, counts in cells."""
    import numpy as np

    figure = _figure(width=4.6, height=3.8)
    axes = figure.add_subplot()
    if matrix.empty:
        axes.text(0.5, 0.5, "No responses rated by both", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return _svg(figure)
    values = matrix.to_numpy(dtype=float)
    axes.imshow(values, cmap="Blues")
    axes.set_xticks(range(len(matrix.columns)), [str(c) for c in matrix.columns])
    axes.set_yticks(range(len(matrix.index)), [str(i) for i in matrix.index])
    axes.set_xlabel("judge")
    axes.set_ylabel("humans (consensus)")
    threshold = values.max() / 2 if values.size else 0
    for (row, column), value in np.ndenumerate(values):
        axes.text(
            column, row, f"{int(value)}", ha="center", va="center", color="white" if value > threshold else "black"
        )
    axes.set_title(title)
    return _svg(figure)
