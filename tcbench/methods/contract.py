"""The one contract every training method implements (the supervised CNN, XGBoost, SimCLR, and any a user adds).

A method declares, once: its name, its parameters (:class:`tcbench.methods.params.Param`: type, default, valid
values, help, whether it changes a result), which of them a campaign grid varies and in which order, which inputs a
run reads, whether it uses a GPU, its test contexts, an optional shared pre-step (SimCLR's pre-training), and how
one run executes. The campaign grid, the config checks, the workflow's inputs and resources, the AIM hparams and
tags, and the ``tcbench run`` options all ask the method instead of comparing its name.

A new method is one module: subclass :class:`Method`, declare, implement :meth:`Method.execute`, and decorate the
class with ``tcbench.methods.register``; a campaign names the module under ``plugins:`` or an installed package
exposes it through the ``tcbench.methods`` entry-point group (docs/extending.md).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from tcbench.data.registry import DatasetDef
from tcbench.methods.params import Param

if TYPE_CHECKING:
    from tcbench.runs.template import RunContext


class Method(ABC):
    """One training method. Class attributes are the declarations; methods may be overridden where a method's
    behaviour depends on its settings (e.g. XGBoost's last grid axis depends on its input representation)."""

    #: Name in configs (``method:``), in run parameters and in the registry.
    name: ClassVar[str]
    #: One line for ``--help`` and ``tcbench methods``.
    summary: ClassVar[str]
    #: Config section of the method's own settings (a parameter can name another section, e.g. shared ones).
    section: ClassVar[str]
    #: Parameters a campaign grid varies, in the grid's product order (the last varies fastest).
    axes: ClassVar[tuple[Param, ...]]
    #: Axes a campaign may leave out of its grid; the setting of the same name applies then.
    optional_axes: ClassVar[frozenset[str]] = frozenset()
    #: Settings read from the config sections (one value for the whole campaign).
    settings: ClassVar[tuple[Param, ...]]
    #: Grid axes the method does not vary but accepts with exactly these values (the original's forced axes).
    fixed_axes: ClassVar[Mapping[str, tuple[Any, ...]]] = {}
    #: Whether a run trains on the GPU when the campaign asks for one.
    uses_gpu: ClassVar[bool] = False
    #: The AIM experiment of its runs when the campaign names none (the original's defaults).
    experiment: ClassVar[str] = ""
    #: Other ``tcbench run`` command names it answers to (the original's commands).
    commands: ClassVar[tuple[str, ...]] = ()
    #: Whether a run writes an AIM run and the standard marker (a pre-step writes its own marker only).
    tracked: ClassVar[bool] = True
    #: Results sub-folder of its runs: ``results/<results_kind>/<key>``.
    results_kind: ClassVar[str] = "runs"
    #: A step every run of this method needs first and shares with the runs of equal pre-step parameters.
    pre_step: ClassVar[type[Method] | None] = None
    #: Whether this is only a pre-step of another method (not selectable as a campaign's method).
    step_only: ClassVar[bool] = False
    #: The AIM hparams in the order they are reported: names of parameters (their ``hparam`` name is used), plus
    #: ``dataset`` and ``dataset_minpkts``. None: every parameter in declaration order, then the dataset.
    hparam_order: ClassVar[tuple[str, ...] | None] = None
    #: Where the plugin came from (module), set by the registry.
    origin: ClassVar[str] = ""
    #: The version of the method's results, for a plugin that wants to keep its finished runs across edits that
    #: change no number: when set, it enters the run key instead of the hash of the plugin's file, and planning
    #: still names runs made by other code of the same version (tcbench.runs.provenance). Bump it when results
    #: change. In-tree methods leave it unset: tcbench.RESULTS_VERSION covers them.
    version: ClassVar[str | int | None] = None
    #: The metrics every test context of a run records (``RunContext.report`` gives all four); a run without one
    #: of them gets no marker.
    test_metrics: ClassVar[tuple[str, ...]] = ("acc", "precision", "recall", "f1")

    # ------------------------------------------------------------------------------------------- parameters
    @classmethod
    def params(cls) -> tuple[Param, ...]:
        """Every parameter of the method (axes first, then settings), each once."""
        return tuple(_param_index(cls).values())

    @classmethod
    def param(cls, name: str) -> Param:
        try:
            return _param_index(cls)[name]
        except KeyError:
            raise KeyError(f"method {cls.name} has no parameter {name!r}") from None

    def grid_axes(self, settings: Mapping[str, Any]) -> tuple[Param, ...]:
        """The axes of a campaign with these settings, in product order (all declared axes by default)."""
        return self.axes

    def identity_params(self, values: Mapping[str, Any]) -> list[Param]:
        """The parameters that make up a run's identity: its grid axes and every result-relevant setting."""
        chosen = {p.name: p for p in self.grid_axes(values)}
        for param in self.settings:
            if param.result:
                chosen.setdefault(param.name, param)
        return list(chosen.values())

    def validate(self, params: Mapping[str, Any]) -> None:
        """Check every parameter of a run against its declaration (types, ranges, valid names); ValueError naming
        the parameter and its valid values. The one place values are checked at run time."""
        problems = []
        for param in self.identity_params(params):
            if param.name not in params:
                problems.append(f"{param.name}: missing; valid values: {param.describe_valid()}")
                continue
            try:
                param.check(params[param.name])
            except ValueError as exc:
                problems.append(str(exc))
        known = {p.name for p in self.identity_params(params)} | {"method", "dataset", "splits"}
        unknown = sorted(set(params) - known)
        if unknown:
            problems.append(f"unknown parameter(s) {unknown} for method {self.name}; valid: {sorted(known)}")
        if problems:
            raise ValueError("; ".join(problems))

    # -------------------------------------------------------------------------------------------- planning
    def check_config(self, config: Mapping[str, Any], dataset: DatasetDef) -> None:
        """Relations between config keys this method needs (raise ValueError naming the key and valid values)."""

    def check_params(self, params: Mapping[str, Any], dataset: DatasetDef) -> None:
        """Relations between a run's parameters and its dataset, checked before a run starts (ValueError)."""

    def inputs(self, params: Mapping[str, Any]) -> frozenset[str]:
        """The prepared data a run reads besides the parquet and splits: ``flowpics`` (the cache at its dim)."""
        return frozenset({"flowpics"})

    def pre_step_params(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The identity of the pre-step this run needs (None: none): the pre-step's parameters taken from the run's."""
        if self.pre_step is None:
            return None
        step = self.pre_step
        kept = {p.name: params[p.name] for p in step().identity_params(params)}
        return {"method": step.name, "dataset": params["dataset"], "splits": params["splits"], **kept}

    def test_contexts(self, dataset: DatasetDef, settings: Mapping[str, Any]) -> tuple[str, ...]:
        """The test contexts a run reports (one confusion matrix plot each)."""
        return dataset.test_contexts(bool(settings.get("test_leftover", False)))

    def missing_results(self, metrics: Mapping[str, Mapping[str, Any]], dataset: DatasetDef,
                        params: Mapping[str, Any]) -> list[str]:
        """What a run's recorded metrics lack of what the method declares (each test context with each of
        ``test_metrics``), as ``context`` or ``context/metric``; empty for a complete run."""
        missing = []
        for context in self.test_contexts(dataset, params):
            if context not in metrics:
                missing.append(context)
            else:
                missing += [f"{context}/{m}" for m in self.test_metrics if m not in metrics[context]]
        return missing

    def campaign_defaults(self, settings: Mapping[str, Any]) -> dict[str, list[Any]]:
        """Grid axis values the original's ``tcbench campaign`` command uses when the user gives none."""
        return {}

    def axes_hint(self, config: Mapping[str, Any]) -> str:
        """A note appended to grid errors when the axes depend on a setting (XGBoost's input representation)."""
        return ""

    def describe(self, config: Mapping[str, Any]) -> str:
        """What the dry-run composition prints after ``method: <name>`` (e.g. the input representation)."""
        return ""

    # ---------------------------------------------------------------------------------------------- labels
    def experiment_name(self, params: Mapping[str, Any]) -> str:
        return self.experiment or self.name

    def hparams(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """AIM ``run["hparams"]``: the run's parameters under their hparam names, in ``hparam_order``."""
        dataset = params["dataset"]
        extra = {"dataset": dataset["name"], "dataset_minpkts": dataset.get("min_pkts", -1)}
        order = self.hparam_order or (*(p.name for p in self.params()), *extra)
        out: dict[str, Any] = {}
        for name in order:
            if name in extra:
                out[name] = extra[name]
            else:
                param = self.param(name)
                out[param.hparam_name] = params.get(name, param.default)
        return out

    def tags(self, params: Mapping[str, Any]) -> list[str]:
        """AIM run tags: the method, the dataset and each grid value (``aug:changertt``, ``dim:32``, ``seed:42``)."""
        dataset = params["dataset"]
        tags = [f"method:{self.name}", f"dataset:{dataset['name']}"]
        if dataset.get("min_pkts", -1) > 0:
            tags.append(f"minpkts:{dataset['min_pkts']}")
        return tags + [axis.tag_for(params[axis.name]) for axis in self.grid_axes(params) if axis.name in params]

    # ----------------------------------------------------------------------------------------------- a run
    @abstractmethod
    def execute(self, run: RunContext) -> dict[str, Any]:
        """Train and test one model. Track metrics and write reports through ``run``; return what the marker adds
        to the standard fields (e.g. ``epochs_run``), or for an untracked step the whole marker."""

    def done_line(self, marker: Mapping[str, Any]) -> str:
        """The line ``tcbench run`` prints at the end of a run."""
        scores = "  ".join(f"{ctx} acc {m['acc']:.2f}" for ctx, m in marker["metrics"].items() if ctx.startswith("test"))
        return f"run {marker['run_key']} done in {marker['durations']['total']:.1f} s: {scores}"


@functools.cache
def _param_index(cls: type[Method]) -> dict[str, Param]:
    """A method's parameters by name, built once per class (planning asks for them per run).

    A name is one config key, one option and one entry of the run key, so two declarations may share it only as
    the same parameter listed once as an axis and once as a setting (an optional axis, whose setting applies when
    the grid leaves it out). ValueError naming the parameter otherwise; the registry checks this at registration.
    """
    seen: dict[str, Param] = {}
    for group, params in (("axes", cls.axes), ("settings", cls.settings)):
        names = [param.name for param in params]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"method {cls.name}: parameter {repeated[0]!r} is listed twice in {group}")
        for param in params:
            other = seen.setdefault(param.name, param)
            if other is not param and other != param:
                raise ValueError(f"method {cls.name}: parameter {param.name!r} is declared twice, differently, in "
                                 "axes and settings (two Params of one name: rename one, or list the same Param)")
    return seen
