"""``results/campaigns/<id>/report.html``: one self-contained page a researcher can read, send or attach.

No network and no separate files: figures are embedded PNGs, the style and the table sorting are inline. Sections:
the campaign (id, dataset identity, method, grid, run counts, compute), every run (a sortable table), the summary
tables with units, accuracy with 95 % intervals on the whole scale, the paired comparisons with their differences
and the critical-difference diagrams, learning curves (from the campaign's AIM repo), per-class precision / recall
/ F1, confusion matrices per condition and test context, and the paper side by side when the campaign names its
table.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tcbench.atomic import atomic_write
from tcbench.reporting.plots import _pyplot, accuracy_plot, confusion_panels, draw_confusion, legend_outside
from tcbench.reporting.runs_table import CONTEXT_COLUMN
from tcbench.reporting.stats import ci95

UNITS = {"acc": "%", "f1": "weighted, 0-1", "precision": "weighted, 0-1", "recall": "weighted, 0-1", "loss": "cross-entropy"}
SECTIONS = ("campaign", "runs", "summary", "accuracy", "comparisons", "learning-curves", "per-class", "confusion", "paper")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; } th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
table.sortable th { cursor: pointer; } table.sortable th:after { content: " \\2195"; color: #999; }
.note { background: #fff6d6; border-left: 4px solid #e0b000; padding: 0.5em 1em; }
.muted { color: #666; font-size: 0.9em; } img { max-width: 100%; }
.scroll { max-height: 30em; overflow: auto; } .sig { font-weight: bold; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; } dt { font-weight: bold; }
"""
SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, column) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows), up = th.dataset.order !== 'up';
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value || a.cells[column].textContent;
        var y = b.cells[column].dataset.value || b.cells[column].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var d = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return up ? d : -d;
      });
      th.dataset.order = up ? 'up' : 'down';
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  document.body.dataset.imagesLoaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.dataset.images = images.length;
  document.body.dataset.tables = document.querySelectorAll('table').length;
});
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return _img(buffer.getvalue())


def _img(data: bytes, alt: str = "figure") -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.2g}"
    return str(value)


def _table(frame: pd.DataFrame, sortable: bool = False, formats: Mapping[str, Any] | None = None) -> str:
    """An HTML table of ``frame``: a value is shown as text (escaped: a skip reason names ``<the authors'
    archives>``), or as the HTML its column's function in ``formats`` returns."""
    formats = formats or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column, value in row.items():
            text = formats[column](value) if column in formats else html.escape(_fmt(value))
            raw = "" if value is None or (isinstance(value, float) and math.isnan(value)) else value
            cells.append(f'<td data-value="{html.escape(str(raw))}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    klass = ' class="sortable"' if sortable else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _p(value: Any) -> str:
    """A p-value, in bold below 0.05. Bold, not green: whether a small p is good news depends on the question (a
    paper finding of "no effect" fails on it; a cell that differs from the paper disagrees), which the verdict and
    agreement columns say."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{value:.3g}"
    return f'<span class="sig">{text}</span>' if value < 0.05 else text


def duration_text(seconds: Any) -> str:
    """A wall time with its units, to the precision it is worth: ``0.43 s``, ``42.1 s``, ``3 min 05 s``,
    ``2 h 04 min``, ``1 d 03 h`` (a tiny campaign's runs take seconds: minutes alone would read 0)."""
    if seconds is None or (isinstance(seconds, (float, np.floating)) and math.isnan(seconds)):
        return ""
    value = float(seconds)
    if value < 59.95:
        return f"{value:.3g} s"
    total = int(round(value))
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    if total < 86_400:
        return f"{total // 3600} h {total % 3600 // 60:02d} min"
    return f"{total // 86_400} d {total % 86_400 // 3600:02d} h"


def _empty(value: Any) -> bool:
    if value is None or (isinstance(value, (list, tuple, dict, str)) and not value):
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


class ReportInputs:
    """What the page is built from: the completed config, the runs' markers (with their folders), the long table,
    the campaign folder (summaries, analysis, plots) and the merged AIM repo."""

    def __init__(self, config: Mapping[str, Any], markers: Sequence[Mapping[str, Any]], run_dirs: Sequence[Path],
                 long: pd.DataFrame, campaign_dir: Path, aim_repo: Path | None = None) -> None:
        self.config, self.markers, self.run_dirs, self.long = config, list(markers), list(run_dirs), long
        self.campaign_dir, self.aim_repo = Path(campaign_dir), aim_repo


def _campaign_section(inputs: ReportInputs) -> str:
    from tcbench.campaign.grid import campaign_method, grid_axes
    from tcbench.data.sources import source_of

    config = inputs.config
    method = campaign_method(config)
    dataset = inputs.markers[0]["params"]["dataset"] if inputs.markers else config["dataset"]
    identity = ", ".join(f"{k}={v}" for k, v in sorted(dataset.items()) if k != "synthetic")
    if "synthetic" in dataset:
        identity += ", " + ", ".join(f"{k}={v}" for k, v in sorted(dataset["synthetic"].items()))
    grid = "<br>".join(f"{html.escape(name)}: {html.escape(str(values))}" for name, values in grid_axes(config))
    seconds = sum(float(m["durations"].get("total", 0.0)) for m in inputs.markers)
    pre = {m.get("pretraining", {}).get("pretrain_key"): m["durations"].get("pretraining", 0.0) for m in inputs.markers
           if m.get("pretraining")}
    seconds_pre = sum(float(v) for v in pre.values())
    stand_in = source_of(config).stand_in
    note = ('<p class="note">This campaign ran on the <b>synthetic stand-in</b> of ucdavis-icdm19 (the generator of '
            "tcbench), not on the real captures: its numbers describe the generator, and any comparison with a paper is "
            "against that stand-in.</p>") if stand_in else ""
    items = {
        "campaign": config["campaign_id"],
        "method": f"{method.name}: {method.summary}",
        "dataset": identity,
        "grid": grid,
        "runs": f"{len(inputs.markers)}" + (f" (+ {len(pre)} shared pre-trainings)" if pre else ""),
        "compute": f"{duration_text(seconds + seconds_pre)} of run time in all"
                   + (f" ({duration_text(seconds)} of runs, {duration_text(seconds_pre)} of pre-training)" if pre else ""),
        "report written": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{v if k == 'grid' else html.escape(str(v))}</dd>" for k, v in items.items())
    return f'<section id="campaign"><h1>Campaign {html.escape(config["campaign_id"])}</h1>{note}<dl>{rows}</dl></section>'


#: What the run template writes into every marker; any other top-level field is the method's own (the CNN's
#: epochs_run, stopped_early and determinism, SimCLR's pretraining, a plugin's own record).
RUN_RECORD_FIELDS: frozenset[str] = frozenset(
    {"marker_version", "run_key", "method", "experiment", "hparams", "params", "aim", "metrics", "creation_time",
     "end_time", "durations", "versions", "environment", "provenance", "artifacts"})


def _flat_fields(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {k: v for key, item in value.items() for k, v in _flat_fields(item, f"{prefix}.{key}").items()}
    if isinstance(value, (list, tuple)):
        return {prefix: ", ".join(map(str, value))}
    return {prefix: value}


def runs_frame(markers: Sequence[Mapping[str, Any]], axes: Sequence[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The runs table (run_key, grid values, test metrics, duration in seconds, the method's own marker fields)
    and the method's nested fields that hold one value in every run (the determinism settings of a CPU campaign),
    said once under the table rather than repeated in a column per run. A column empty in every run (a method
    without epochs) is left out."""
    rows, extras = [], []
    for marker in markers:
        row: dict[str, Any] = {"run_key": marker["run_key"]}
        row.update({axis: marker["params"].get(axis) for axis in axes})
        for context, metrics in sorted(marker["metrics"].items()):
            if context.startswith("test"):
                row[f"{context} acc (%)"] = metrics.get("acc")
                row[f"{context} f1"] = metrics.get("f1")
        rows.append(row)
        extras.append({k: v for name, value in marker.items() if name not in RUN_RECORD_FIELDS
                       for k, v in _flat_fields(value, name).items()})
    names = list(dict.fromkeys(k for e in extras for k in e))
    same = {}
    for name in names:
        values = {repr(e.get(name)) for e in extras}
        if "." in name and len(markers) > 1 and len(values) == 1:
            same[name] = extras[0][name]
    for row, extra, marker in zip(rows, extras, markers):
        row["duration"] = marker["durations"].get("total")
        row.update({k: extra.get(k) for k in names if k not in same})
    frame = pd.DataFrame(rows)
    keep = [c for c in frame.columns if not all(_empty(v) for v in frame[c])]
    return frame[keep], {k: v for k, v in same.items() if not _empty(v)}


def _runs_section(inputs: ReportInputs) -> str:
    from tcbench.campaign.grid import grid_axes

    frame, same = runs_frame(inputs.markers, [name for name, _ in grid_axes(inputs.config)])
    table = _table(frame, sortable=True, formats={"duration": duration_text})
    said = "; ".join(f"<code>{html.escape(k)}</code> = {html.escape(_fmt(v))}" for k, v in same.items())
    common = f'<p class="muted">Same in every run: {said}</p>' if same else ""
    return (f'<section id="runs"><h2>Runs</h2><p class="muted">Every run of the campaign (click a column to sort), '
            f"with the method's own record of each run (e.g. epochs run). Each run lives in "
            f'<code>results/runs/&lt;run_key&gt;/</code>.</p><div class="scroll">{table}</div>{common}</section>')


def _summary_section(inputs: ReportInputs) -> str:
    parts = []
    for path in sorted((inputs.campaign_dir / "campaign_summary").glob("summary*.csv")):
        frame = pd.read_csv(path, header=[0, 1])
        columns = []
        for top, sub in frame.columns:
            sub = "" if str(sub).startswith("Unnamed") else sub
            unit = f" [{UNITS[top]}]" if top in UNITS and sub in ("mean", "std", "ci95") else ""
            columns.append(f"{top} {sub}{unit}".strip())
        frame.columns = columns
        for column in [c for c in frame.columns if c.startswith("run_duration")]:
            frame[column] = frame[column].map(duration_text)
        parts.append(f"<h3>{html.escape(path.name)}</h3>{_table(frame)}")
    return (f'<section id="summary"><h2>Summary</h2><p class="muted">Per test context and varying hyper-parameter: '
            f'mean, standard deviation (ddof 1) and 95 % Student-t half-width over the runs; acc in %, f1 / precision / '
            f'recall weighted averages in [0, 1], run durations as wall time with their units.</p>{"".join(parts)}</section>')


def _accuracy_section(inputs: ReportInputs) -> str:
    buffer = inputs.campaign_dir / "plots" / ".report-accuracy.png"
    accuracy_plot(inputs.long, buffer)
    image = _img(buffer.read_bytes(), "accuracy per condition with 95 % intervals")
    buffer.unlink()
    return (f'<section id="accuracy"><h2>Accuracy</h2><p class="muted">Mean accuracy with its 95 % interval, on the '
            f'whole 0-100 % scale; the differences between conditions are in the comparisons below.</p>{image}</section>')


def _difference_figure(table: pd.DataFrame, metric: str) -> str:
    from tcbench.reporting.plots import difference_figure

    fig = difference_figure(table, metric)
    return _png(fig) if fig is not None else ""


#: The columns of a comparison that answer "does it differ, by how much, how sure": first, so that they fit the
#: window; the rest of the CSV's statistics follow (scrolling right).
KEY_COMPARISON_COLUMNS = ("context", "metric", "compared", "baseline", "n_pairs", "mean_diff", "95 % interval", "holm_p")
MORE_COMPARISON_COLUMNS = ("wilcoxon_p", "t_p_value", "effect_size_dz", "mean_baseline", "mean_compared",
                           "pairs_for_observed_diff", "pairs_for_1pt")


def comparison_view(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A comparison CSV as the page shows it: the key columns first (the interval as one ``low .. high`` column),
    the conditions that vary between its rows next to the context, the other statistics after them; and the
    conditions that hold one value in every row (the file's flowpic dim), said once above the table."""
    conditions = [c for c in table.columns[: list(table.columns).index("metric")] if c != CONTEXT_COLUMN]
    fixed = {c: table[c].iloc[0] for c in conditions if len(table) and table[c].nunique(dropna=False) == 1}
    interval = [f"{_fmt(low)} .. {_fmt(high)}" if low == low and high == high else ""
                for low, high in zip(table["ci95_low"], table["ci95_high"])]
    shown = table.rename(columns={CONTEXT_COLUMN: "context"}).assign(**{"95 % interval": interval})
    varying = [c for c in conditions if c not in fixed]
    order = ["context", *varying, *KEY_COMPARISON_COLUMNS[1:], *MORE_COMPARISON_COLUMNS]
    return shown[[c for c in order if c in shown.columns]], fixed


def _comparisons_section(inputs: ReportInputs) -> str:
    tables = sorted((inputs.campaign_dir / "campaign_summary").glob("comparison*.csv"))
    if not tables:
        return ('<section id="comparisons"><h2>Comparisons</h2><p>Nothing varies between the runs besides seeds and '
                "splits: no condition to compare.</p></section>")
    parts = []
    formats = {name: _p for name in ("t_p_value", "wilcoxon_p", "holm_p")}
    for path in tables:
        table = pd.read_csv(path)
        figure = _difference_figure(table, table["metric"].iloc[0]) if len(table) else ""
        cd = inputs.campaign_dir / "plots" / path.name.replace("comparison", "critical_difference").replace(".csv", ".png")
        cd_image = _img(cd.read_bytes(), "critical difference diagram") if cd.exists() else ""
        shown, fixed = comparison_view(table)
        said = "".join(f" {html.escape(str(k))} = {html.escape(_fmt(v))}." for k, v in fixed.items())
        parts.append(f"<h3>{html.escape(path.name)}</h3>{figure}<p class='muted'>The CSV's rows, the numbers to report "
                     f"first.{said}</p><div class='scroll'>{_table(shown, formats=formats)}</div>"
                     f"<h4>Critical-difference diagram</h4>{cd_image}")
    return (
        '<section id="comparisons"><h2>Comparisons</h2>'
        '<p class="muted">Runs of two conditions that share their split and seeds are pairs. Per test context: the '
        "mean difference with its paired 95 % Student-t interval, the paired t-test and the Wilcoxon signed-rank "
        "p-values, the Wilcoxon p-values Holm-adjusted over the comparisons of each table and metric (bold: below "
        "0.05), Cohen's d_z, and how many pairs a paired t-test needs for 80 % power at alpha 0.05 to detect the "
        "observed difference and a one-point difference. The critical-difference diagrams rank all conditions per "
        "(split, seed) block (Friedman test); conditions joined by a bar differ by less than the Nemenyi critical "
        "difference.</p>" + "".join(parts) + "</section>")


def _learning_curves(inputs: ReportInputs) -> str:
    if inputs.aim_repo is None or not Path(inputs.aim_repo).exists():
        return ""
    from tcbench.reporting.aim_table import learning_curves

    curves = learning_curves(inputs.aim_repo)
    if curves.empty:
        return ""
    fig = learning_curves_figure(curves, [k for k in inputs.long.columns if k in _conditions(inputs)])
    return _png(fig)


def learning_curves_figure(curves: pd.DataFrame, keys: Sequence[str]) -> Any:
    """Per (metric, context) panel, the mean per epoch over the runs of each condition (the values of ``keys``),
    one line per condition, the legend right of the panels."""
    plt = _pyplot()
    curves = curves.assign(condition=curves.apply(lambda r: " ".join(f"{k}={r[k]}" for k in keys), axis=1)
                           if keys else "all runs")
    panels = list(dict.fromkeys(zip(curves["metric"], curves["context"])))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (metric, context) in zip(axes[0], panels):
        part = curves[(curves["metric"] == metric) & (curves["context"] == context)]
        for condition, rows in part.groupby("condition", sort=True):
            mean = rows.groupby("epoch")["value"].mean()
            ax.plot(mean.index, mean.to_numpy(), label=str(condition), lw=1.5)
        ax.set_title(f"{context} {metric}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    legend_outside(axes[0][-1], fontsize=7)
    fig.tight_layout()
    return fig


def _conditions(inputs: ReportInputs) -> list[str]:
    from tcbench.reporting.comparisons import condition_columns

    return condition_columns(inputs.long)


def _per_class_section(inputs: ReportInputs) -> str:
    keys = _conditions(inputs)
    frames = []
    for marker, run_dir in zip(inputs.markers, inputs.run_dirs):
        for context in sorted(c for c in marker["metrics"] if c.startswith("test")):
            path = Path(run_dir) / "artifacts" / f"{context}_class_rep.csv"
            if not path.exists():
                continue
            report = pd.read_csv(path).rename(columns={"index": "class"})
            report = report[~report["class"].isin(["accuracy", "macro avg", "weighted avg"])]
            report[CONTEXT_COLUMN] = context
            for key in keys:
                report[key] = marker["params"].get(key, marker["hparams"].get(key))
            frames.append(report)
    if not frames:
        return ""
    data = pd.concat(frames, ignore_index=True)
    table = (data.groupby([CONTEXT_COLUMN, *keys, "class"], dropna=False)[["precision", "recall", "f1-score"]]
             .agg(["mean", ci95]).round(3))
    table.columns = [f"{a} {b}" for a, b in table.columns]
    return (f'<section id="per-class"><h2>Per class</h2><p class="muted">Precision, recall and F1 of each class, mean '
            f'and 95 % half-width over the runs of each condition.</p><div class="scroll">{_table(table.reset_index())}'
            "</div></section>")


def _confusion_section(inputs: ReportInputs) -> str:
    """One figure per condition (each value of the varying hparams, the report's split (the flowpic dim) included),
    a panel per test context: a matrix pooling noaug with an augmentation would show neither."""
    from tcbench.campaign.report_plan import format_value, split_of

    plt = _pyplot()
    keys = _conditions(inputs)
    split = split_of([m["hparams"] for m in inputs.markers])
    if split is not None and split not in keys:
        keys = [split, *keys]
    groups: dict[tuple[str, ...], list[tuple[Mapping[str, Any], Path]]] = {}
    for marker, run_dir in zip(inputs.markers, inputs.run_dirs):
        values = tuple(format_value(marker["hparams"].get(k, marker["params"].get(k))) for k in keys)
        groups.setdefault(values, []).append((marker, Path(run_dir)))
    parts = []
    for values, runs in sorted(groups.items()):
        condition = ", ".join(f"{k}={v}" for k, v in zip(keys, values)) or "all runs"
        contexts = sorted({c for m, _ in runs for c in m["metrics"] if c.startswith("test")})
        fig, axes = plt.subplots(1, len(contexts), figsize=(4.2 * len(contexts), 3.8), squeeze=False)
        for ax, context in zip(axes[0], contexts):
            panels = confusion_panels([d for _, d in runs], [{} for _ in runs], context, [])
            if not panels:
                ax.axis("off")
                continue
            _, matrix, n = panels[0]
            draw_confusion(ax, matrix, f"{context} ({n} runs)", fontsize=6)
        fig.tight_layout()
        parts.append(f'<h3 class="condition">{html.escape(condition)}</h3>{_png(fig)}')
    return (f'<section id="confusion"><h2>Confusion matrices</h2><p class="muted">Row-normalised (rows = true '
            f'class), averaged over the runs of each condition (never across conditions or flowpic dims).</p>'
            f'{"".join(parts)}</section>')


def _paper_section(inputs: ReportInputs) -> str:
    from tcbench.reporting.paper import cell_label

    path = inputs.campaign_dir / "campaign_summary" / "paper_comparison.csv"
    if not path.exists():
        return ""
    table = pd.read_csv(path)
    image = inputs.campaign_dir / "plots" / "paper_comparison.png"
    figure = _img(image.read_bytes(), "ours vs the paper") if image.exists() else ""
    stand_in = bool(len(table)) and "stand-in" in str(table["data"].iloc[0])
    note = ('<p class="note">Ours ran on the synthetic stand-in, the paper on the real data: the comparison checks '
            "the pipeline's order of magnitude and rankings, not a replication.</p>") if stand_in else ""
    compact = pd.DataFrame({
        "cell": [cell_label(row) for _, row in table.iterrows()], "test context": table[CONTEXT_COLUMN],
        "metric": table["metric"], "paper": [_pm(m, c) for m, c in zip(table["paper_mean"], table["paper_ci95"])],
        "paper runs": table["paper_runs"], "ours": [_pm(m, c) for m, c in zip(table["ours_mean"], table["ours_ci95"])],
        "our runs": table["ours_runs"], "difference": table["difference"], "welch_p": table["welch_p"],
        "intervals overlap": table["intervals_overlap"]})
    not_run = int((table["ours_runs"] == 0).sum())
    missing = f" {not_run} cells of the table were not run by this campaign (no ours)." if not_run else ""
    return (f'<section id="paper"><h2>The paper side by side: {html.escape(str(table["reference"].iloc[0]))}</h2>{note}'
            f'<p class="muted">Per cell of the published table: both means with their 95 % intervals, the difference '
            f"(ours - paper), Welch's t-test from the two summaries and whether the intervals overlap.{missing}</p>"
            f'{figure}<div class="scroll">{_table(compact, sortable=True, formats={"welch_p": _p})}</div></section>')


def _pm(mean: float, half: float) -> str:
    if mean != mean:
        return ""
    return f"{mean:.2f} ± {half:.2f}" if half == half else f"{mean:.2f}"


def write_report_page(inputs: ReportInputs, path: str | os.PathLike[str]) -> Path:
    """Build the page and write it atomically."""
    curves = _learning_curves(inputs)
    body = "".join([
        _campaign_section(inputs), _runs_section(inputs), _summary_section(inputs), _accuracy_section(inputs),
        _comparisons_section(inputs),
        f'<section id="learning-curves"><h2>Learning curves</h2><p class="muted">Per epoch, mean over the runs of each '
        f'condition (from the campaign\'s AIM repo).</p>{curves or "<p>No per-epoch metric was tracked.</p>"}</section>',
        _per_class_section(inputs), _confusion_section(inputs), _paper_section(inputs),
    ])
    title = f"tcbench campaign {inputs.config['campaign_id']}"
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}<script>{SORT_SCRIPT}</script></body></html>")
    return atomic_write(Path(path), lambda tmp: tmp.write_text(page, encoding="utf-8"))
