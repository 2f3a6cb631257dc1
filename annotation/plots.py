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
    """The training loss per optimiser step; `points` is [[step, loss], ...]. An empty plot says so."""
    figure = _figure()
    axes = figure.add_subplot()
    if points:
        steps, losses = zip(*points, strict=True)
        axes.plot(steps, losses, color="#3b5b92", linewidth=1.5)
        axes.set_xlim(left=0)
    else:
        axes.text(0.5, 0.5, "No loss reported yet", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    return _svg(figure)
