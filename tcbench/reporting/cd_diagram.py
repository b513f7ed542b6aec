"""Critical-difference diagrams (Demsar 2006): average ranks of the conditions on an axis, the Nemenyi critical
difference as a bar, and thick lines joining conditions whose average ranks differ by less than it (not
significantly different at alpha 0.05). One panel per ranking (test context, value of the other conditions)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tcbench.reporting.comparisons import Ranking


def _cliques(ranks: list[float], cd: float) -> list[tuple[int, int]]:
    """Maximal runs (i, j) of conditions, in rank order, whose extreme ranks differ by less than ``cd``."""
    order = sorted(range(len(ranks)), key=lambda i: ranks[i])
    sorted_ranks = [ranks[i] for i in order]
    found: list[tuple[int, int]] = []
    for i in range(len(sorted_ranks)):
        j = i
        while j + 1 < len(sorted_ranks) and sorted_ranks[j + 1] - sorted_ranks[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in found):
            found.append((i, j))
    return found


def critical_difference_plot(rankings: Sequence[Ranking], path: str | os.PathLike[str], metric: str = "acc") -> Path:
    """Write one PNG with a critical-difference panel per ranking."""
    from tcbench.reporting.plots import _pyplot, _save

    plt = _pyplot()
    panels = list(rankings)
    if not panels:  # the planned file still exists, and says why it is empty
        fig, ax = plt.subplots(figsize=(8, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "No ranking: no test context has a complete (split, seed) block of 2+ conditions yet.",
                ha="center", va="center", fontsize=9)
        return _save(fig, Path(path))
    height = [0.9 + 0.28 * len(r.conditions) for r in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, sum(height)), squeeze=False,
                             gridspec_kw={"height_ratios": height})
    for ax, ranking in zip(axes[:, 0], panels):
        k = len(ranking.conditions)
        ranks = ranking.average_ranks
        order = sorted(range(k), key=lambda i: ranks[i])
        ax.set_xlim(0.5, k + 0.5)
        rows = (k + 1) // 2
        ax.set_ylim(-(rows + 1.2), 1.6)
        ax.axis("off")
        ax.hlines(0, 1, k, color="black", lw=1)
        for r in range(1, k + 1):
            ax.vlines(r, 0, 0.15, color="black", lw=1)
            ax.text(r, 0.3, str(r), ha="center", va="bottom", fontsize=8)
        cd = ranking.critical_difference
        if cd == cd:  # not NaN
            ax.hlines(1.2, 1, min(k, 1 + cd), color="tab:red", lw=2)
            ax.text(1, 1.35, f"CD = {cd:.2f}", color="tab:red", fontsize=8, va="bottom")
        for position, index in enumerate(order):
            left = position < (k + 1) // 2  # the better half on the left, the worse on the right
            level = -(position + 1) if left else -(k - position)
            x_text = 0.55 if left else k + 0.45
            ax.plot([ranks[index], ranks[index], x_text], [0, level, level], color="black", lw=0.8)
            ax.text(x_text, level, f"{ranking.conditions[index]} ({ranks[index]:.2f}) ", ha="left" if not left else "right",
                    va="center", fontsize=8, transform=ax.transData)
        sorted_ranks = [ranks[i] for i in order]
        for n, (i, j) in enumerate(_cliques(ranks, cd if cd == cd else 0.0)):
            y = -0.35 - 0.22 * n
            ax.hlines(y, sorted_ranks[i] - 0.03, sorted_ranks[j] + 0.03, color="tab:blue", lw=4)
        where = ", ".join(f"{k_}={v}" for k_, v in ranking.labels.items())
        p = f"p = {ranking.p_value:.3g}" if ranking.p_value == ranking.p_value else "p = n/a"
        ax.set_title(f"{ranking.context}{' | ' + where if where else ''}: {metric} ranks over {ranking.n_blocks} "
                     f"(split, seed) blocks, Friedman {p}", fontsize=9, loc="left")
    fig.tight_layout()
    return _save(fig, Path(path))
