"""A run's identity: the canonical parameters that change its result, and the run key hashed from them.

The run key (a sha256 prefix of the canonical JSON of the parameters, the results version of the code and the identity
of any plugin code the run executes) names the
folder ``results/runs/<run_key>/``. Campaigns that share a grid point therefore share the run, editing one
result-relevant parameter changes exactly the keys of the affected runs, and labels (campaign id, AIM experiment,
device, threads, paths) can never trigger a rerun because they are not in the parameters at all.

Which parameters enter is declared once per parameter (``Param.result``, ``tcbench.methods.params``); a run started
by hand (``tcbench run ...``), by a Snakemake job and by the campaign grid all build the dict here, so they agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tcbench import RESULTS_VERSION

if TYPE_CHECKING:
    from tcbench.contract import Method

RUN_KEY_LENGTH = 16


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def run_key(params: Mapping[str, Any]) -> str:
    """Content address of a run: sha256 of its canonical parameters, the results version of tcbench's code and the
    identity of any plugin code the run executes (``tcbench.runs.provenance.code_identity``: a plugin's declared
    version or its code hash; nothing for tcbench's own methods and augmentations, so their keys stay as they were)."""
    from tcbench.runs.provenance import code_identity

    code = code_identity(params)
    payload = canonical_json({"results_version": RESULTS_VERSION, **params, **({"code": code} if code else {})})
    return hashlib.sha256(payload.encode()).hexdigest()[:RUN_KEY_LENGTH]


def splits_identity(splits: Mapping[str, Any]) -> dict[str, int]:
    """Which train splits file a run reads (ucdavis-icdm19's drawn splits); part of every run's identity."""
    return {"n_splits": int(splits["n_splits"]), "samples_per_class": int(splits["samples_per_class"])}


def run_params(method: Method, dataset: Mapping[str, Any], splits: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical parameter dict of a run: the method, the data identity and every result-relevant parameter the
    method declares for this run (its active grid axes and its settings), cast to their declared kinds.

    ``values`` maps parameter names to values (a grid point merged over the config's settings, a job's JSON or a
    command line's options); values of parameters the method does not use for this run are ignored, so e.g.
    changing ``epochs`` never changes the key of an XGBoost run.
    """
    params: dict[str, Any] = {"method": method.name, "dataset": dict(dataset), "splits": splits_identity(splits)}
    for param in method.identity_params(values):
        params[param.name] = param.cast(values[param.name]) if param.name in values else param.default
    return params
