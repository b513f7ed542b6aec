"""``results/paper/report.html``: the whole paper rebuilt from a paper plan's runs, on one self-contained page.

Why: the campaign pages answer "what did this campaign find"; a replication is read table by table against the
paper and finding by finding. On top: which data the runs are on (the stand-in's generator version and seed, or the
imported captures) and the paper's findings, each with the test that decides it and its verdict; then every
published table and figure, each cell ours next to the paper's with both intervals and the test, cells without runs
marked pending with the reason. Built like the campaign page (its style, table helpers and inline script: no network,
figures embedded), next to ``tables.csv`` and ``findings.csv`` with the same numbers for reuse.
"""

from __future__ import annotations

import datetime
import html
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from tcbench.atomic import atomic_write
from tcbench.reporting.paper_findings import FAILS, HOLDS, evaluate
from tcbench.reporting.paper_runs import PaperRuns
from tcbench.reporting.paper_tables import DONE, Rebuilt, cells_frame, rebuild_all, source_table, title
from tcbench.reporting.report_page import SORT_SCRIPT, STYLE, _fmt, _img, _p, _png, _table
from tcbench.reporting.runs_table import CONTEXT_COLUMN

PAGE_STYLE = STYLE + """
tr.pending td { color: #888; background: #f7f7f7; } td.pending { font-style: italic; }
#data td, #findings td, table.cells td.text { text-align: left; } #findings td:nth-child(3) { font-size: 0.9em; }
.holds { color: #0a5; font-weight: bold; } .fails { color: #c22; font-weight: bold; } .status-pending { color: #888; }
"""
#: The files written into the page's folder.
PAGE, TABLES_CSV, FINDINGS_CSV = "report.html", "tables.csv", "findings.csv"


def _pm(value: Any, half: Any, n: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = _fmt(float(value), 3 if abs(float(value)) < 0.1 else 2)
    if half == half and half is not None:
        text += f" ± {_fmt(float(half))}"
    return text + (f" ({int(n)})" if n == n and n is not None and int(n) > 0 else "")


def _data_section(runs: PaperRuns) -> str:
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in runs.data_lines()) or "<li>no campaign ran yet</li>"
    stand_in = ('<p class="note" id="stand-in">These runs are on the <b>synthetic stand-in</b> (the generator of '
                "tcbench), not on the paper's real captures: every number and verdict below is evidence about the "
                "tool (does the pipeline reproduce the paper's mechanisms), not about traffic.</p>") if runs.stand_in() else (
                '<p class="note" id="stand-in">These runs are on the imported real captures.</p>')
    reduced = ""
    if runs.reduce:
        kept = [f"its first {runs.reduce[k]} {k}" + ("" if k == "splits" else " per seed axis")
                for k in ("splits", "seeds") if runs.reduce.get(k)]
        reduced = (f'<p class="note">A <b>reduced</b> paper: each campaign keeps {" and ".join(kept)}; intervals are '
                   "wider and tests weaker than the paper's.</p>")
    rows = []
    for table, ids in runs.tables.items():
        for cid in ids:
            campaign = runs.campaigns[cid]
            rows.append({"table": table, "campaign": cid, "status": campaign.pending or "done",
                         "runs": campaign.long["run_key"].nunique() if campaign.long is not None else 0})
    plan = _table(pd.DataFrame(rows)) if rows else ""
    return (f'<section id="data"><h1>The paper {html.escape(runs.name)}, rebuilt from our runs</h1>'
            f'<dl><dt>data</dt><dd><ul>{lines}</ul></dd><dt>page written</dt><dd>'
            f'{datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}</dd></dl>{stand_in}{reduced}'
            f'<h3>Campaigns of the plan</h3>{plan}</section>')


def _findings_section(findings: pd.DataFrame) -> str:
    klass = {HOLDS: "holds", FAILS: "fails"}
    rows = []
    for _, f in findings.iterrows():
        status = f'<span class="{klass.get(f["status"], "status-pending")}">{html.escape(f["status"])}</span>'
        rows.append(f'<tr class="finding" data-status="{html.escape(f["status"])}" id="finding-{html.escape(f["id"])}">'
                    f'<td>{html.escape(f["finding"])}</td><td>{status}</td><td>{html.escape(f["test"])}</td>'
                    f'<td>{html.escape(str(f["figures"]))}</td><td>{_p(f["p_value"])}</td>'
                    f'<td>{html.escape(f["reads"])}</td></tr>')
    counts = findings["status"].value_counts()
    said = ", ".join(f"{counts.get(s, 0)} {s}" for s in (HOLDS, FAILS, "pending"))
    return ('<section id="findings"><h2>The paper\'s findings on these runs</h2>'
            f'<p class="muted">Each finding decided by its test at alpha 0.05 on the runs below ({said}); pending: '
            "not enough runs yet (the reason is given).</p><table><thead><tr><th>finding</th><th>verdict</th>"
            "<th>test</th><th>figures</th><th>p</th><th>reads</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></section>")


def _cells_table(cells: pd.DataFrame) -> str:
    head = ["cell", "test context", "metric", "statistic", "paper", "ours", "difference", "test", "p", "agrees", "note"]
    rows = []
    for _, c in cells.iterrows():
        pending = c["status"] != DONE
        ours = ('<td class="pending">pending</td>' if pending else
                f'<td data-value="{c["ours"]}">{_pm(c["ours"], c["ours_ci95"], c["ours_runs"])}</td>')
        cells_html = [html.escape(str(c["cell"])), html.escape(str(c[CONTEXT_COLUMN])), html.escape(str(c["metric"])),
                      html.escape(str(c["statistic"])), _pm(c["paper"], c["paper_ci95"], c["paper_runs"])]
        tail = [_fmt(c["difference"]), html.escape(str(c["test"] or "")), _p(c["p_value"]), _fmt(c["agrees"]),
                html.escape(str(c["note"] or ""))]
        text = ("", "", "", "", "", "", ' class="text"', "", "", ' class="text"')  # cell, ..., test, ..., note
        rows.append(f'<tr class="{"pending" if pending else "done"}">'
                    + "".join(f'<td{" class=text" if i == 0 else ""}>{x}</td>' for i, x in enumerate(cells_html))
                    + ours + "".join(f"<td{k}>{x}</td>" for k, x in zip(text[5:], tail)) + "</tr>")
    return (f'<div class="scroll"><table class="sortable cells"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _figures(rebuilt: Rebuilt, scratch: Path) -> str:
    from tcbench.reporting.cd_diagram import critical_difference_plot
    from tcbench.reporting.paper import paper_figure
    from tcbench.reporting.plots import difference_figure

    parts = []
    if rebuilt.rankings:
        path = critical_difference_plot(rebuilt.rankings, scratch / f".{rebuilt.reference}-cd.png",
                                        "f1" if rebuilt.reference.endswith("figure7") else "acc")
        parts.append(_img(path.read_bytes(), f"{title(rebuilt.reference)}: critical-difference diagram"))
        path.unlink()
    detail = rebuilt.detail
    if detail is not None and len(detail) and "paper_mean" in detail.columns and (detail["ours_runs"] > 0).any():
        parts.append(_png(paper_figure(detail, f"{title(rebuilt.reference)}: ours vs the paper")))
    elif detail is not None and len(detail) and "mean_diff" in detail.columns:
        figure = difference_figure(detail, "acc")
        if figure is not None:
            parts.append(_png(figure))
    return "".join(parts)


def _reference_section(rebuilt: Rebuilt, scratch: Path) -> str:
    cells = rebuilt.cells
    done = int((cells["status"] == DONE).sum())
    source = source_table(rebuilt.reference)
    where = f" (from the runs of {html.escape(source)})" if source != rebuilt.reference else ""
    pending = "".join(f"<li>{html.escape(p)}</li>" for p in rebuilt.pending)
    pending = f'<p class="muted">Pending campaigns:</p><ul class="pending">{pending}</ul>' if pending else ""
    detail = ""
    if rebuilt.detail is not None and len(rebuilt.detail) and "holm_p" in rebuilt.detail.columns:
        shown = rebuilt.detail[[c for c in rebuilt.detail.columns if c in (
            CONTEXT_COLUMN, "aug_name", "flowpic_dim", "n_pairs", "mean_diff", "ci95_low", "ci95_high", "wilcoxon_p",
            "holm_p")]]
        detail = f"<h4>Per augmentation</h4><div class='scroll'>{_table(shown, formats={'holm_p': _p, 'wilcoxon_p': _p})}</div>"
    return (f'<section id="{html.escape(rebuilt.reference)}" class="reference"><h2>{title(rebuilt.reference)} '
            f'<span class="muted">{html.escape(rebuilt.reference)}</span></h2>'
            f'<p class="muted">{done} of {len(cells)} cells rebuilt{where}. Ours and the paper: mean ± 95 % half-width '
            f"(runs); the test compares ours with the paper (Welch from the two summaries) or decides the statistic "
            f"itself (Tukey, Friedman/Nemenyi, paired Wilcoxon with Holm); agrees: intervals overlap, or the same "
            f"verdict at alpha 0.05, or ranks within the critical difference.</p>{pending}"
            f"{_figures(rebuilt, scratch)}{_cells_table(cells)}{detail}</section>")


def write_paper_page(runs: PaperRuns, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``report.html``, ``tables.csv`` and ``findings.csv`` into ``out_dir`` (atomically); their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rebuilt = rebuild_all(runs)
    findings = evaluate(runs)
    body = _data_section(runs) + _findings_section(findings) + "".join(_reference_section(r, out_dir) for r in rebuilt)
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tcbench: the paper '
            f"{html.escape(runs.name)} rebuilt</title><style>{PAGE_STYLE}</style></head><body>{body}"
            f"<script>{SORT_SCRIPT}</script></body></html>")
    written = [atomic_write(out_dir / TABLES_CSV, lambda p: cells_frame(rebuilt).to_csv(p, index=False)),
               atomic_write(out_dir / FINDINGS_CSV, lambda p: findings.to_csv(p, index=False)),
               atomic_write(out_dir / PAGE, lambda p: p.write_text(page, encoding="utf-8"))]
    return written
