"""Summary statistics shared by the campaign reports.

The original tcbench computed the 95% confidence interval with statsmodels'
``DescrStatsW(x).tconfint_mean(alpha=0.05)`` and reported the upper bound minus the mean. That is exactly the
half-width of a two-sided Student-t interval, so it is computed directly with scipy here (no statsmodels
dependency) and gives the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import stats


def ci95(values: Iterable[float]) -> float:
    """Half-width of the two-sided 95% Student-t confidence interval of the mean.

    ``t_{0.975, n-1} * s / sqrt(n)`` with ``s`` the sample (ddof=1) standard deviation. NaNs are ignored, as
    pandas' own ``mean``/``std`` aggregations ignore them, so the three columns of a summary describe the same
    sample. Fewer than two values give NaN: a spread cannot be estimated from one run.

    Named ``ci95`` on purpose: pandas uses a function's ``__name__`` as the column label when it is passed to
    ``DataFrame.agg``.
    """
    arr = np.asarray(list(values) if not hasattr(values, "__array__") else values, dtype=float).ravel()
    arr = arr[~np.isnan(arr)]
    n = arr.size
    if n < 2:
        return math.nan
    s = float(arr.std(ddof=1))
    return float(stats.t.ppf(0.975, n - 1) * s / math.sqrt(n))
