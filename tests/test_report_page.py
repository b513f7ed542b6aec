"""The report page's parts a researcher reads: figures whose legends cover no data, confusion matrices per condition,
durations with units, and a runs table with each method's own record and no empty columns. Built from marker data
and matrices written here; the whole page of a real campaign is checked in test_report_workflow.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_comparisons import CONTEXTS, long_table


def covered_panels(fig) -> list[str]:
    """The panels (axes titles) a legend of ``fig`` overlaps, as drawn; fails when the figure has no legend."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    assert legends, "the figure has no legend"
    covered = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            panel = ax.get_window_extent(renderer)
            width = min(box.x1, panel.x1) - max(box.x0, panel.x0)
            height = min(box.y1, panel.y1) - max(box.y0, panel.y0)
            if width > 0 and height > 0:
                covered.append(ax.get_title())
    return covered


def test_the_accuracy_legend_covers_no_error_bar():
    """Bars of a 0-100 scale reach the top of their panel: the dims' legend sits outside every panel."""
    from tcbench.reporting.plots import _pyplot, accuracy_figure

    fig = accuracy_figure(long_table(augs=("noaug", "changertt"), dims=(32, 64)))
    assert covered_panels(fig) == []
    _pyplot().close(fig)


def test_the_learning_curves_legend_covers_no_curve():
    from tcbench.reporting.plots import _pyplot
    from tcbench.reporting.report_page import learning_curves_figure

    curves = pd.DataFrame([{"aug_name": aug, "run_key": f"{aug}{seed}", "metric": metric, "context": context,
                            "epoch": epoch, "value": 1.0 / (epoch + 1) + seed}
                           for aug in ("noaug", "changertt") for seed in (1, 2) for metric in ("loss", "acc")
                           for context in ("train", "val") for epoch in range(5)])
    fig = learning_curves_figure(curves, ["aug_name"])
    assert covered_panels(fig) == [] and len(fig.axes) == 4
    _pyplot().close(fig)


def test_the_paper_legend_covers_no_interval():
    from tcbench.reporting.paper import compare_with_paper, paper_figure
    from tcbench.reporting.plots import _pyplot

    long = long_table(augs=("noaug", "changertt"), dims=(32,), splits=(0, 1, 2, 3, 4))
    long["with_dropout"] = True
    fig = paper_figure(compare_with_paper(long, "imc23-table4", stand_in=True, method="monolithic"), "ours vs paper")
    assert covered_panels(fig) == []
    _pyplot().close(fig)


def test_confusion_matrices_are_never_pooled_across_conditions(tmp_path):
    """noaug runs always right, changertt runs always wrong, one dim: one identity and one anti-identity matrix in
    each planned file (pooled, every cell would read 0.5)."""
    from tcbench.campaign.report_plan import confusion_file_names, report_split
    from tcbench.reporting.plots import campaign_figures, confusion_panels

    long = long_table(augs=("noaug", "changertt"), dims=(32,), splits=(0,), seeds=(1, 2))
    classes = ["a", "b"]
    run_dirs, hparams = [], []
    for (run_key, aug), _ in long.groupby(["run_key", "aug_name"]):
        folder = tmp_path / str(run_key)
        (folder / "artifacts").mkdir(parents=True)
        counts = [[5, 0], [0, 5]] if aug == "noaug" else [[0, 5], [5, 0]]
        for context in CONTEXTS:
            pd.DataFrame(counts, index=classes, columns=classes).to_csv(folder / "artifacts" / f"{context}_conf_mtx.csv")
        run_dirs.append(folder)
        hparams.append({"flowpic_dim": 32, "flow_representation": "flowpic", "aug_name": aug})
    for context in CONTEXTS:
        panels = confusion_panels(run_dirs, hparams, context, ["aug_name"])
        assert [(label, n) for label, _, n in panels] == [("aug_name=changertt", 2), ("aug_name=noaug", 2)]
        assert np.array_equal(panels[0][1].to_numpy(), 1 - np.eye(2))
        assert np.array_equal(panels[1][1].to_numpy(), np.eye(2))
    written = campaign_figures(long, run_dirs, hparams, tmp_path / "plots")
    planned = confusion_file_names(sorted(CONTEXTS), *report_split(hparams))
    assert sorted(p.name for p in written[1:]) == sorted(planned)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


@pytest.mark.parametrize("seconds, text", [(0.4288, "0.429 s"), (5.0, "5 s"), (42.13, "42.1 s"), (59.4, "59.4 s"),
                                           (59.97, "1 min 00 s"), (185, "3 min 05 s"), (7440, "2 h 04 min"),
                                           (97_200, "1 d 03 h"), (float("nan"), ""), (None, "")])
def test_durations_have_units_and_seconds_below_a_minute(seconds, text):
    from tcbench.reporting.report_page import duration_text

    assert duration_text(seconds) == text


def _marker(idx: int, extra: dict) -> dict:
    return {"run_key": f"{idx:016x}", "params": {"split_index": idx % 2, "seed": idx, "n_neighbors": 5},
            "metrics": {"test-script": {"acc": 90.0 + idx}, "test-human": {"acc": 70.0 + idx}, "val": {"acc": 80.0}},
            "durations": {"total": 3.5 + idx}, "hparams": {}, "method": "knn", "experiment": "knn-flowpic",
            "aim": {"repo": "aim", "run_hash": "h"}, "creation_time": 0.0, "end_time": 1.0, "versions": {},
            "marker_version": 1, "artifacts": [], "environment": {"host": "vm"}, **extra}


def test_the_runs_table_shows_a_methods_own_fields_and_no_empty_column():
    """A plugin records its training set size and a nested setting; it has no epochs and no f1: its fields are
    columns (or, nested and equal in every run, said once), and no column is empty in every run."""
    from tcbench.reporting.report_page import runs_frame

    markers = [_marker(i, {"n_train_flows": 100 + i, "index": {"kind": "brute", "leaf_size": 30 + i},
                           "warnings": []}) for i in range(3)]
    frame, same = runs_frame(markers, ["split_index", "seed", "n_neighbors"])
    assert list(frame.columns) == ["run_key", "split_index", "seed", "n_neighbors", "test-human acc (%)",
                                   "test-script acc (%)", "duration", "n_train_flows", "index.leaf_size"]
    assert frame["n_train_flows"].tolist() == [100, 101, 102] and frame["duration"].tolist() == [3.5, 4.5, 5.5]
    assert same == {"index.kind": "brute"}


def test_table_cells_are_text_and_formats_are_html():
    """A cell is shown as the text it holds (a paper page's skip reason names `<the authors' archives>`: as markup, the
    browser dropped it from the command); a column's format function gives HTML (a p-value's emphasis)."""
    from tcbench.reporting.report_page import _p, _table

    page = _table(pd.DataFrame([{"status": "import it: --raw <the authors' archives> & more", "p": 0.01}]),
                  formats={"p": _p})
    assert "--raw &lt;the authors&#x27; archives&gt; &amp; more</td>" in page
    assert '<span class="sig">0.01</span>' in page
