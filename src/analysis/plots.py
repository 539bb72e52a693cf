"""Figures: colour-blind-safe (Okabe-Ito palette), labelled, with the data table beside them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import config  # noqa: E402
from analysis.tables import suppress  # noqa: E402

#: Colour-blind-safe colours (Okabe-Ito and Paul Tol), each with at least 3:1 contrast against
#: white (WCAG 1.4.11, non-text contrast); lines also differ by marker.
PALETTE = ["#0072B2", "#D55E00", "#117733", "#882255", "#332288", "#999933", "#AA4499", "#000000"]
OKABE_ITO = PALETTE  # kept for callers of the earlier name


def share_by_class_figure(
    long: pd.DataFrame,
    variable: str,
    title: str,
    thresholds: config.SizeThresholds,
    lang: str = "nb",
) -> plt.Figure:
    """Bar chart of a share by size class with 95 % intervals (suppressed cells omitted)."""
    d = suppress(long[(long["variable"] == variable) & (long["group"] != "all")])
    labels = thresholds.labels(lang)
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=110)
    x = range(len(d))
    est = 100 * d["estimate"].astype(float)
    err = [est - 100 * d["ci_low"].astype(float), 100 * d["ci_high"].astype(float) - est]
    ax.bar(x, est, color=OKABE_ITO[: len(d)], yerr=err, capsize=5, ecolor="#222222")
    ax.set_xticks(list(x), [labels[g] for g in d["group"]])
    ax.set_ylim(0, 100)
    ax.set_ylabel("Prosent" if lang == "nb" else "Percent")
    ax.set_title(title, fontsize=10)
    if lang == "nb":
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.0f}"))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def trend_figure(fd: pd.DataFrame, labels: dict[str, str], lang: str = "nb") -> plt.Figure:
    """Lines of shares per year with 95 % interval bands, one colour and marker per indicator."""
    fig, ax = plt.subplots(figsize=(7.2, 4.2), dpi=110)
    markers = "osD^vP*"
    for i, (v, g) in enumerate(fd.groupby("variable", sort=False)):
        c = OKABE_ITO[i % len(OKABE_ITO)]
        ax.plot(
            g["year"],
            100 * g["estimate"],
            marker=markers[i % len(markers)],
            color=c,
            label=labels[v],
        )
        ax.fill_between(g["year"], 100 * g["ci_low"], 100 * g["ci_high"], color=c, alpha=0.12)
    ax.set_ylim(0, 100)
    ax.set_ylabel("Prosent" if lang == "nb" else "Percent")
    ax.set_xticks(sorted(fd["year"].unique()))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
