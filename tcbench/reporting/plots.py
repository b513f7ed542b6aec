"""Campaign figures: accuracy with ci95 error bars per augmentation and flowpic dim, and averaged confusion matrices
(one per condition).

Both are drawn from what the summary already uses (the runsinfo long table) and from the per-run
`<context>_conf_mtx.csv` artifacts, so a figure never disagrees with the summary table next to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tcbench.atomic import atomic_write
from tcbench.campaign.report_plan import declared_params, format_value, split_of
from tcbench.reporting.runs_table import CONTEXT_COLUMN, run_hparams
from tcbench.reporting.stats import ci95
from tcbench.reporting.summary import default_groupby


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: works on headless cluster nodes
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")

    path = atomic_write(path, write)
    _pyplot().close(fig)
    return path


def legend_outside(ax: Any, **options: Any) -> Any:
    """A legend right of ``ax``, outside every panel: inside the axes it would cover error bars or curves (bars
    reach the top of a 0-100 scale). Give it the rightmost panel of a row so that it covers no other panel."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **options)


def accuracy_figure(long: pd.DataFrame, metric: str = "acc") -> Any:
    """One panel per test context: mean ``metric`` with ci95 error bars, one bar per value of the hparam the report
    splits by (the flowpic dim), one bar group per experimental condition: the hparams that vary besides it (e.g.
    augmentation; projection and dropout for SimCLR), else the parameter with a declared baseline (the
    augmentation), else the campaign."""
    plt = _pyplot()
    contexts = sorted(long[CONTEXT_COLUMN].unique())
    series = split_of(run_hparams(long))
    keys = [k for k in default_groupby(long)[1:] if k not in (series, "campaign_id")]
    if not keys:
        compared = [name for name, param in declared_params().items() if param.baseline is not None
                    and name in long.columns and long[name].notna().any()]
        keys = compared[:1] or ["campaign_id"]
    group = keys[0] if len(keys) == 1 else "condition"
    if len(keys) > 1:
        long = long.assign(condition=long[keys].astype(str).apply(
            lambda row: " ".join(f"{k}={v}" for k, v in row.items()), axis=1))
    stats = (long.groupby([CONTEXT_COLUMN, group] + ([series] if series else []), dropna=False)[metric]
             .agg(["mean", ci95]).reset_index())
    fig, axes = plt.subplots(1, len(contexts), figsize=(5 * len(contexts), 4), squeeze=False)
    for ax, context in zip(axes[0], contexts):
        part = stats[stats[CONTEXT_COLUMN] == context]
        groups = list(dict.fromkeys(part[group]))
        values = sorted(part[series].unique()) if series else [None]
        width = 0.8 / len(values)
        for i, value in enumerate(values):
            rows = part[part[series] == value] if series else part
            rows = rows.set_index(group).reindex(groups)
            ax.bar(np.arange(len(groups)) + i * width, rows["mean"], width, yerr=rows["ci95"].fillna(0), capsize=3,
                   label=f"{series} {value}" if series else None)
        ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, [str(g) for g in groups], rotation=30, ha="right")
        ax.set_title(context)
        ax.set_ylabel(f"{metric} (mean, 95% CI)")
        # The whole scale, from 0: a cut axis makes a gap inside the intervals look large (the paired comparisons
        # of the report show the differences themselves).
        ax.set_ylim(0.0, 100.0 if metric == "acc" else 1.0)
    if series:
        legend_outside(axes[0][-1], fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_plot(long: pd.DataFrame, path: str | os.PathLike[str], metric: str = "acc") -> Path:
    """:func:`accuracy_figure` saved as a PNG."""
    return _save(accuracy_figure(long, metric), Path(path))


def difference_figure(table: pd.DataFrame, metric: str) -> object | None:
    """Paired comparisons (``tcbench.reporting.comparisons``) as a figure: each compared value's mean difference to
    the baseline with its paired 95 % interval, one panel per test context, a line at no difference. A row is
    labelled by what tells it apart from the others (the compared value, its baseline when there are several,
    the other conditions that vary); what all rows share goes into the axis label."""
    plt = _pyplot()
    part = table[table["metric"] == metric]
    if part.empty:
        return None
    contexts = list(dict.fromkeys(part[CONTEXT_COLUMN]))
    others = [c for c in part.columns[: list(part.columns).index("metric")] if c != CONTEXT_COLUMN]
    varying = [c for c in others if part[c].nunique(dropna=False) > 1]
    several_compared, several_baselines = part["compared"].nunique() > 1, part["baseline"].nunique() > 1
    labels = [" ".join([*([str(r["compared"])] if several_compared or not several_baselines else []),
                        *([f"vs {r['baseline']}"] if several_baselines else []), *(f"{c}={r[c]}" for c in varying)])
              for _, r in part.iterrows()]
    part = part.assign(_label=labels)
    # Room for the labels: a panel grows with the longest one instead of squeezing the intervals.
    width = 3.2 + 0.065 * max(len(label) for label in labels)
    fig, axes = plt.subplots(1, len(contexts), figsize=(width * len(contexts), 0.45 * len(part) / len(contexts) + 1.6),
                             squeeze=False)
    compared = "" if several_compared else f"{part['compared'].iloc[0]} "
    baseline = "the baseline" if several_baselines else str(part["baseline"].iloc[0])
    for ax, context in zip(axes[0], contexts):
        rows = part[part[CONTEXT_COLUMN] == context].reset_index(drop=True)
        y = np.arange(len(rows))
        low = (rows["mean_diff"] - rows["ci95_low"]).fillna(0)
        high = (rows["ci95_high"] - rows["mean_diff"]).fillna(0)
        ax.errorbar(rows["mean_diff"], y, xerr=[low, high], fmt="o", color="tab:blue", capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, rows["_label"], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(context, fontsize=10)
        ax.set_xlabel(f"{metric}: {compared}- {baseline} (paired, 95 % CI)", fontsize=8)
    fig.tight_layout()
    return fig


def average_confusion(csv_paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Row-normalised confusion matrices (rows = true class) averaged over runs, as the paper's figure 3."""
    mats = []
    for path in csv_paths:
        frame = pd.read_csv(path, index_col=0)
        counts = frame.to_numpy(dtype=float)
        totals = counts.sum(axis=1, keepdims=True)
        mats.append(np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0))
        labels = list(frame.index)
    if not mats:
        raise ValueError("no confusion matrix files to average")
    return pd.DataFrame(np.mean(mats, axis=0), index=labels, columns=labels)


def draw_confusion(ax: Any, matrix: pd.DataFrame, title: str, fontsize: float = 8) -> Any:
    """A row-normalised confusion matrix on ``ax``, each cell labelled; returns the image (for a colour bar)."""
    image = ax.imshow(matrix.to_numpy(), vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right", fontsize=fontsize + 1)
    ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize=fontsize + 1)
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=fontsize,
                color="white" if value > 0.5 else "black")
    ax.set_title(title, fontsize=fontsize + 2)
    return image


def confusion_panels(run_dirs: Sequence[Path], hparams: Sequence[Mapping[str, Any]], context: str,
                     keys: Sequence[str]) -> list[tuple[str, pd.DataFrame, int]]:
    """(condition label, averaged matrix, runs averaged) per value of the conditions ``keys`` among the runs that
    evaluated ``context``: runs of different conditions (noaug and an augmentation) are never pooled, a pooled
    matrix would show neither."""
    groups: dict[tuple[str, ...], list[Path]] = {}
    for run_dir, h in zip(run_dirs, hparams):
        path = Path(run_dir) / "artifacts" / f"{context}_conf_mtx.csv"
        if path.exists():
            groups.setdefault(tuple(format_value(h.get(k)) for k in keys), []).append(path)
    return [(" ".join(f"{k}={v}" for k, v in zip(keys, values)) or "all runs", average_confusion(csvs), len(csvs))
            for values, csvs in sorted(groups.items())]


def confusion_plot(panels: Sequence[tuple[str, pd.DataFrame, int]], title: str, path: str | os.PathLike[str]) -> Path:
    """One averaged confusion matrix per condition (:func:`confusion_panels`), side by side (4 per row), one
    colour scale."""
    plt = _pyplot()
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 4.2 * rows), squeeze=False)
    image = None
    for ax, (label, matrix, n) in zip(axes.flat, panels):
        image = draw_confusion(ax, matrix, f"{label} ({n} runs)" if len(panels) > 1 else f"{n} runs")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if image is not None:
        fig.colorbar(image, ax=list(axes.flat), shrink=0.8)
    return _save(fig, Path(path))


def campaign_figures(long: pd.DataFrame, run_dirs: Sequence[Path], hparams: Sequence[Mapping[str, Any]],
                     out_dir: str | os.PathLike[str]) -> list[Path]:
    """``accuracy.png`` and, per test context and value of the report's split hparam (the flowpic dim), the
    confusion matrices ``confusion_<context>_<hparam>_<v>.png`` (names: tcbench.campaign.report_plan), one panel
    per condition (the other hparams that vary between the runs)."""
    from tcbench.campaign.report_plan import confusion_file_names, report_split, varying_conditions

    out = Path(out_dir)
    written = [accuracy_plot(long, out / "accuracy.png")]
    hp, values = report_split(hparams)
    keys = [k for k in varying_conditions(hparams) if k != hp]
    for value in values or [None]:
        selected = [(d, h) for d, h in zip(run_dirs, hparams) if hp is None or h.get(hp) == value]
        label = f", {hp} {format_value(value)}" if hp else ""
        for context in sorted(long[CONTEXT_COLUMN].unique()):
            panels = confusion_panels([d for d, _ in selected], [h for _, h in selected], context, keys)
            if panels:
                (name,) = confusion_file_names([context], hp, [value] if hp else [])
                written.append(confusion_plot(panels, f"{context}{label}", out / name))
    return written


def summary_html(csv_path: str | os.PathLike[str], html_path: str | os.PathLike[str], precision: int = 2) -> Path:
    """The summary CSV as an HTML table (two-level header kept), for reports that show HTML inline."""
    table = pd.read_csv(csv_path, header=[0, 1])
    table.columns = pd.MultiIndex.from_tuples([(a, "" if b.startswith("Unnamed") else b) for a, b in table.columns])
    html = table.to_html(index=False, float_format=lambda v: f"{v:.{precision}f}", na_rep="", border=0)
    return atomic_write(html_path, lambda tmp: tmp.write_text(f"<h3>{Path(csv_path).name}</h3>\n{html}\n"))
