"""Figures with seaborn (``seaborn.objects``): they return matplotlib Figures.

Colour-blind safe (Okabe-Ito and Paul Tol colours, each at least 3:1 against white), classes
also told apart by marker. Figures are built on a ``matplotlib.figure.Figure`` (no pyplot
state, no backend chosen at import), so an analyst's own ``plt.show()`` works as usual.
:func:`show` displays a figure as PNG with its alt text (``image/png`` output with ``alt``
metadata, which nbconvert writes into the page).
"""

from __future__ import annotations

import io
import textwrap

import pandas as pd
from matplotlib.figure import Figure

from analysis.i18n import Lang

#: Colour-blind-safe colours (Okabe-Ito and Paul Tol), each >= 3:1 against white.
PALETTE = ["#0072B2", "#D55E00", "#117733", "#882255", "#332288", "#999933", "#AA4499", "#000000"]
MARKERS = ["o", "s", "D", "^", "v", "P"]
DPI = 100


def _theme() -> dict:
    import seaborn as sns

    return {**sns.axes_style("whitegrid"), "axes.spines.top": False, "axes.spines.right": False}


def _wrap(title: str, width: int = 38) -> str:
    return textwrap.fill(str(title), width)


def _fmt(_: Lang, decimals: int = 0):
    return lambda v, pos=None: _.num(v, decimals)


def share_points(rows: pd.DataFrame, x: str, title: str, _: Lang, ylabel: str) -> Figure:
    """Shares (0-1) with 95 % intervals as points and ranges along ``x`` (one colour each)."""
    import seaborn.objects as so

    d = rows[~rows["suppressed"]].reset_index(drop=True)
    for c in ("estimate", "ci_low", "ci_high"):
        d[c] = 100 * d[c]
    fig = Figure(figsize=(6.4, 3.6), dpi=DPI, layout="constrained")
    (
        so.Plot(d, x=x, y="estimate", ymin="ci_low", ymax="ci_high", color=x)
        .add(so.Range(linewidth=2))
        .add(so.Dot(pointsize=9))
        .scale(color=PALETTE[: d[x].nunique()], y=so.Continuous().label(like=_fmt(_)))
        .limit(y=(0, 100))
        .label(x="", y=ylabel, title=title, color=None)
        .theme(_theme())
        .layout(engine="constrained")
        .on(fig)
        .plot()
    )
    fig.legends.clear()  # the classes are on the x axis
    return fig


def predicted_curves(
    pred: pd.DataFrame, facet: str, colour: str, _: Lang, xlabel: str, ylabel: str, wrap: int = 3
) -> Figure:
    """Predicted shares (0-1) against ``x`` with 95 % bands, one line per ``colour``, one
    panel per ``facet``."""
    import seaborn.objects as so

    d = pred.reset_index(drop=True)
    for c in ("estimate", "ci_low", "ci_high"):
        d[c] = 100 * d[c]
    panels = d[facet].nunique()
    fig = Figure(
        figsize=(3.3 * min(panels, wrap), 3.2 * -(-panels // wrap) + 0.6),
        dpi=DPI,
        layout="constrained",
    )
    (
        so.Plot(d, x="x", y="estimate", ymin="ci_low", ymax="ci_high", color=colour, marker=colour)
        .facet(col=facet, wrap=wrap)
        .add(so.Band(alpha=0.12))
        .add(so.Line(linewidth=2))
        .scale(
            color=PALETTE[: d[colour].nunique()],
            marker=MARKERS[: d[colour].nunique()],
            y=so.Continuous().label(like=_fmt(_)),
            x=so.Continuous().label(like=_fmt(_, 0)),
        )
        .limit(y=(0, 100))
        .label(x=xlabel, y=ylabel, color="", marker="", title=_wrap)
        .theme(_theme())
        .on(fig)
        .plot()
    )
    _legend_below(fig)
    return fig


def forest(coefs: pd.DataFrame, _: Lang, xlabel: str, wrap: int = 1, odds: bool = True) -> Figure:
    """Coefficient (forest) plot: estimate and 95 % interval per term (``label``), one colour
    per ``model``, one panel per ``panel``, a dashed line at no effect.

    With ``odds``, the rows are log-odds and the axis is labelled in odds ratios (a log scale).
    """
    import numpy as np
    import seaborn.objects as so

    d = coefs.dropna(subset=["estimate", "ci_low", "ci_high"]).reset_index(drop=True)
    panels = d["panel"].nunique()
    height = 0.32 * d["label"].nunique() * d["model"].nunique() ** 0.5 * -(-panels // wrap) + 1.6
    fig = Figure(figsize=(7.0 * min(panels, wrap), height), dpi=DPI, layout="constrained")
    x = so.Continuous()
    if odds:
        ticks = [0.1, 0.25, 0.5, 1, 2, 4, 10]
        lo, hi = float(d["ci_low"].min()), float(d["ci_high"].max())
        ticks = [t for t in ticks if lo - 0.7 <= np.log(t) <= hi + 0.7] or [1]
        x = x.tick(at=[float(np.log(t)) for t in ticks]).label(
            like=lambda v, pos=None: _.num(float(np.exp(v)), 2 if np.exp(v) < 1 else 0)
        )
    (
        so.Plot(d, x="estimate", xmin="ci_low", xmax="ci_high", y="label", color="model")
        .facet(col="panel", wrap=wrap)
        .add(so.Range(linewidth=2), so.Dodge())
        .add(so.Dot(pointsize=6), so.Dodge())
        .scale(color=PALETTE[: d["model"].nunique()], x=x)
        .label(x=xlabel, y="", color="", title=_wrap)
        .theme(_theme())
        .on(fig)
        .plot()
    )
    _legend_below(fig)
    for ax in fig.axes:
        ax.axvline(0.0, color="#555555", linewidth=1, linestyle="--")
    return fig


def trend_panels(
    rows: pd.DataFrame, breaks: dict[str, list[int]], _: Lang, ylabel: str, wrap: int = 4
) -> Figure:
    """Small multiples: one panel per indicator (``label``), share per year with 95 % bands
    and each year's interval as a bar (a year alone between breaks has no band). A line is
    broken at a series break (``breaks``: the question's wording changed or the frame did)
    and the break is marked with a dotted vertical line half a year before it."""
    import seaborn.objects as so

    d = rows[~rows["suppressed"]].reset_index(drop=True)
    for c in ("estimate", "ci_low", "ci_high"):
        d[c] = 100 * d[c]
    d["segment"] = [
        sum(1 for b in breaks.get(o, []) if y >= b)
        for o, y in zip(d["outcome"], d["year"], strict=True)
    ]
    order = list(dict.fromkeys(d["label"]))  # panels in this order: fig.axes[i] is order[i]
    panels = len(order)
    fig = Figure(
        figsize=(3.0 * min(panels, wrap), 2.8 * -(-panels // wrap) + 0.5),
        dpi=DPI,
        layout="constrained",
    )
    (
        so.Plot(d, x="year", y="estimate", ymin="ci_low", ymax="ci_high", group="segment")
        .facet(col="label", wrap=wrap, order=order)
        .add(so.Band(alpha=0.15, color=PALETTE[0]))
        .add(so.Range(color=PALETTE[0], linewidth=1))
        .add(so.Line(color=PALETTE[0], linewidth=2))
        .add(so.Dot(color=PALETTE[0], pointsize=4))
        .scale(
            y=so.Continuous().label(like=_fmt(_)),
            x=so.Continuous().tick(every=1).label(like=lambda v, pos=None: f"{v:.0f}"),
        )
        .limit(y=(0, 100))
        .label(x="", y=ylabel, title=lambda t: _wrap(t, 28))
        .theme(_theme())
        .on(fig)
        .plot()
    )
    outcome = dict(zip(d["label"], d["outcome"], strict=False))
    for ax, lbl in zip(fig.axes, order, strict=False):
        for b in breaks.get(outcome[lbl], []):
            ax.axvline(b - 0.5, color="#333333", linewidth=1.2, linestyle=":", gid="series-break")
    return fig


def _legend_below(fig: Figure) -> None:
    """Move seaborn's figure legend under the panels (inside the figure, one row)."""
    if not fig.legends:
        return
    leg = fig.legends[0]
    handles, labels = leg.legend_handles, [t.get_text() for t in leg.get_texts()]
    fig.legends.clear()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no timestamps or software tag: identical on rebuild)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def show(fig: Figure, alt: str) -> None:
    """Display ``fig`` as a PNG with alt text (the image's alt attribute on the reviewer page)."""
    import base64

    from IPython.display import display

    data = {"image/png": base64.b64encode(png(fig)).decode("ascii")}
    display(data, raw=True, metadata={"image/png": {"alt": alt}})
