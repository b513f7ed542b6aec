"""The contract between tcbench and a training method: :class:`Param`, :class:`Method`, :class:`RunContext`.

A method declares, once: its name, its parameters (:class:`Param`: type, default, valid values, help, whether it
changes a result), which of them a campaign grid varies and in which order, which inputs a run reads, whether it
uses a GPU, its test contexts, an optional shared pre-step (SimCLR's pre-training), and how one run executes. The
campaign grid, the config checks, the workflow's inputs and resources, the AIM hparams and tags, and the
``tcbench run`` options all ask the method instead of comparing its name. A run's :meth:`Method.execute` gets a
:class:`RunContext`: its parameters, its data, its folders and its recorders.

Everything else is derived from the parameter declarations: the config schema's fragments and defaults
(``tcbench.methods.schema``), the ``tcbench run`` options (``tcbench.cli.run``), the run's identity
(``tcbench.runs.identity``: only parameters with ``result=True`` enter the run key), the AIM hparams and tags, and
the validation of a run's parameters (:meth:`Param.check`, the one place where a value is checked against its
declaration, whether it came from a config, a job or a command line).

This module sits below the code that uses it (the run template, the registry, the methods): it imports data,
features and tracking, never a method or the run template. A new method is one module: subclass :class:`Method`,
declare, implement :meth:`Method.execute`, and decorate the class with ``tcbench.methods.register``
(docs/extending.md).
"""

from __future__ import annotations

import functools
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from tcbench.data.paths import DatasetPaths
from tcbench.data.registry import DatasetDef
from tcbench.tracking.side_tracker import SideTracker

if TYPE_CHECKING:
    from tcbench.data.labels import FlowLabels
    from tcbench.data.splits import RunSplit
    from tcbench.features.flowpic_store import FlowpicStore

__all__ = ["JobResources", "Method", "Param", "Placement", "RunContext", "names"]


# The kinds a parameter can have, with the JSON-schema type and the word used in messages.
_KINDS: dict[type, tuple[str, str]] = {
    bool: ("boolean", "a boolean"),
    int: ("integer", "an integer"),
    float: ("number", "a number"),
    str: ("string", "a string"),
    list: ("array", "a list of names"),
}


def names(value: Any) -> list[str]:
    """A list of names from a list or a comma-separated string (the command line's form)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


V = TypeVar("V")


@dataclass(frozen=True)
class Param(Generic[V]):
    """One run parameter.

    ``kind`` is the type a value is normalised to before it is hashed into the run key, so YAML's ``15``, JSON's
    ``15.0`` and the command line's ``"15"`` give the same key. ``result=False`` marks a label: it names or places
    a run (device, threads, AIM experiment, folders) and never enters its identity. ``section`` is the config
    section a setting is read from (None: the method's own section). ``tag`` is the AIM tag prefix of the
    parameter when a grid varies it (``dim`` gives ``dim:32``).
    """

    name: str
    kind: type[V]
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    choices_from: Callable[[], Sequence[Any]] | None = None  # valid values from a registry (may grow with plugins)
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    unique: bool = False  # list: no repeated names
    result: bool = True
    section: str | None = None
    option: str | None = None  # command-line option when not --<name with dashes> (the original's names)
    off_option: str | None = None  # the off switch of a boolean when not --no-<name with dashes>
    hparam: str | None = None  # AIM hparam name when not the parameter's name
    tag: str | None = None
    pattern: str | None = None  # a str must match it whole (regular expression)
    pattern_help: str | None = None  # the pattern in words, for error messages
    component: str | None = None  # "augmentation": the values name registered augmentations (their code is a run's)
    # How reports treat the parameter when a grid varies it:
    replicate: bool = False  # it only repeats an experiment (a seed, a split): runs differing only in it are pairs
    baseline: Any = None  # the value the others are compared against (noaug), when the report compares by it
    splits_report: bool = False  # the report gets one summary file per value (the original's per-dim files)
    axis_label: str | None = None  # the dry-run composition's label of the axis (the original's), default its name
    # Its option of `tcbench campaign <command>`: a grid axis's comma list (default --<name>s), or a non-boolean
    # setting's option when not its `tcbench run` option (several settings may share one).
    campaign_option: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise TypeError(f"parameter {self.name}: kind {self.kind!r} is not one of {[k.__name__ for k in _KINDS]}")

    # ----------------------------------------------------------------------------------------------- values
    def valid_values(self) -> tuple[Any, ...] | None:
        """The values (for a list: the items) this parameter accepts, when they are a fixed set."""
        if self.choices_from is not None:
            return tuple(self.choices_from())
        return self.choices

    def cast(self, value: Any) -> Any:
        """``value`` normalised to the declared kind (raises ValueError/TypeError when it cannot be)."""
        if self.kind is list:
            return names(value)
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError(f"{value!r} is not a boolean")
        if self.kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(f"{value!r} is not an integer")
            return int(value)
        if self.kind is float:
            if isinstance(value, bool):
                raise ValueError(f"{value!r} is not a number")
            return float(value)
        return str(value)

    def bounds(self) -> str:
        signs = (("minimum", ">="), ("exclusive_minimum", ">"), ("maximum", "<="), ("exclusive_maximum", "<"))
        return " and ".join(f"{sign} {getattr(self, key):g}" for key, sign in signs if getattr(self, key) is not None)

    def describe_valid(self) -> str:
        """What this parameter accepts, as one phrase for error messages."""
        valid = self.valid_values()
        if valid is not None:
            return f"a list of values from {list(valid)}" if self.kind is list else str(list(valid))
        if self.pattern_help is not None:
            return self.pattern_help
        bounds = self.bounds()
        return f"{_KINDS[self.kind][1]} {bounds}".strip()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not valid for this parameter, or None: the one place values are checked."""
        return self._problem(value, self.valid_values())

    def default_problem(self) -> str | None:
        """Why the declared default is not one of the declaration's own valid values, or None.

        Checked when a method registers, so that a default outside its ``choices``, bounds or pattern is the
        plugin author's error at import, not every job's error for a key the user's config never set. Values from
        ``choices_from`` are left out: they come from a registry that plugins loaded later may still extend.
        """
        problem = self._problem(self.default, self.choices)
        if problem is None:
            return None
        valid = (self.describe_valid() if self.choices_from is None
                 else self.pattern_help or f"{_KINDS[self.kind][1]} {self.bounds()}".strip())
        return f"its default {problem}; valid values: {valid}"

    def _problem(self, value: Any, valid: Sequence[Any] | None) -> str | None:
        try:
            cast = self.cast(value)
        except (TypeError, ValueError):
            return f"{value!r} is not {_KINDS[self.kind][1]}"
        items = cast if self.kind is list else [cast]
        if self.kind is list:
            if not items:
                return "is empty"
            if self.unique and len(set(items)) != len(items):
                return f"{cast!r} repeats a name"
        if valid is not None:
            bad = [v for v in items if v not in valid]
            if bad:
                return f"{(bad if self.kind is list else bad[0])!r} is not valid"
        for value_ in items if self.kind in (int, float) else ():
            if not _in_bounds(self, value_):
                return f"{value_!r} is out of range"
        if self.pattern is not None and not re.fullmatch(self.pattern, str(cast)):
            return f"{cast!r} is not valid"
        return None

    def check(self, value: Any) -> Any:
        """``value`` cast to the declared kind; ValueError ``<name>: <value> ...; valid values: ...`` otherwise."""
        problem = self.problem(value)
        if problem is not None:
            raise ValueError(f"{self.name}: {problem}; valid values: {self.describe_valid()}")
        return self.cast(value)

    # ---------------------------------------------------------------------------------------- presentation
    @property
    def hparam_name(self) -> str:
        return self.hparam or self.name

    @property
    def option_name(self) -> str:
        return self.option or "--" + self.name.replace("_", "-")

    @property
    def off_option_name(self) -> str:
        return self.off_option or "--no-" + self.option_name.removeprefix("--").removeprefix("with-")

    @property
    def axis_title(self) -> str:
        return self.axis_label or self.name

    def tag_for(self, value: Any) -> str:
        text = str(value).lower() if isinstance(value, bool) else ",".join(value) if isinstance(value, list) else str(value)
        return f"{self.tag or self.name}:{text}"


def _in_bounds(param: Param, value: float) -> bool:
    checks = ((param.minimum, lambda b: value >= b), (param.exclusive_minimum, lambda b: value > b),
              (param.maximum, lambda b: value <= b), (param.exclusive_maximum, lambda b: value < b))
    return all(bound is None or ok(bound) for bound, ok in checks)


@dataclass(frozen=True)
class JobResources:
    """A run's request to a scheduler: memory (SLURM's --mem) and time limit (--time)."""

    memory_mb: int = 2000
    minutes: int = 30


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
        return None

    def check_params(self, params: Mapping[str, Any], dataset: DatasetDef) -> None:
        """Relations between a run's parameters and its dataset, checked before a run starts (ValueError)."""
        return None

    def flowpic_cache(self, params: Mapping[str, Any]) -> tuple[int, float] | None:
        """The flowpic cache a run reads besides the parquet and splits, as (dim, block duration); None: none.
        By default the cache of the run's ``flowpic_dim`` and ``flowpic_block_duration`` when it has them."""
        if "flowpic_dim" in params and "flowpic_block_duration" in params:
            return int(params["flowpic_dim"]), float(params["flowpic_block_duration"])
        return None

    def report_split(self, settings: Mapping[str, Any]) -> str | None:
        """The parameter the report of a campaign with these settings gets one file per value of: its first grid
        axis declared ``splits_report`` (None: one file for all)."""
        return next((p.name for p in self.grid_axes(settings) if p.splits_report), None)

    def resources(self, params: Mapping[str, Any]) -> JobResources:
        """What a scheduler gives one run (SLURM's memory and time limit); a retried job gets a multiple."""
        return JobResources()

    def cost_features(self, params: Mapping[str, Any]) -> dict[str, str]:
        """What a run's duration depends on, as named values the campaign cost model (tcbench.campaign.cost) looks
        up in its coefficients (``cost_defaults.yaml``, or runs finished on this machine): by default the flowpic
        dim and whether the run trains on the whole pretraining partition (split -1) or on one split. A method
        whose cost depends on more (an augmentation applied at loading, the input representation) says so here."""
        out = {"dim": str(params["flowpic_dim"])} if "flowpic_dim" in params else {}
        if "split_index" in params:
            out["train"] = "larger" if params["split_index"] == -1 else "split"
        return out

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


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where and how a run executes: labels, never part of its identity."""

    dataset_dir: Path
    results_dir: Path = Path("results")
    run_dir: Path | None = None  # default <results_dir>/<kind>/<key>; its name must be the key
    aim_template: Path | None = None
    device: str = "cpu"
    threads: int = 1
    experiment: str = ""  # default: the method's
    pre_step_dir: Path | None = None  # default <results_dir>/<pre-step kind>/<pre-step key>


@dataclass(kw_only=True)
class RunContext:
    """What a method's ``execute`` works with: its parameters, data, folders, and the run's recorders."""

    method: Method
    params: dict[str, Any]
    key: str
    data: DatasetPaths
    dataset: DatasetDef
    run_dir: Path
    artifacts: Path
    place: Placement
    experiment: str
    started: float
    stack: ExitStack
    pre_step_dir: Path | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    params_extra: dict[str, Any] = field(default_factory=dict)  # more entries for params.yml
    pre_step_key: str | None = None  # the run key of the pre-step whose output is in pre_step_dir
    tracker: SideTracker | None = None
    _last_lap: float = 0.0

    @property
    def device(self) -> str:
        return self.place.device

    @property
    def threads(self) -> int:
        return self.place.threads

    def value(self, param: Param[V]) -> V:
        """The run's value of ``param`` (validated and cast to its kind): the typed way to read a parameter. A
        parameter the method does not declare is a KeyError naming the ones it does (the registry also checks, when
        the method registers, every parameter name its code reads)."""
        if param.name not in self.params or self.method.param(param.name) != param:
            raise KeyError(f"method {self.method.name} has no parameter {param.name!r}; its parameters: "
                           f"{[p.name for p in self.method.params()]}")
        return self.params[param.name]  # type: ignore[no-any-return]

    def lap(self, name: str) -> float:
        """Record the time since the previous lap (or the run's start) as ``durations[name]``; returns now."""
        now = time.time()
        self.durations[name] = now - (self._last_lap or self.started)
        self._last_lap = now
        return now

    # ------------------------------------------------------------------------------------------------ data
    def read_labels(self) -> FlowLabels:
        """Class code and partition of every flow (indexed by row_id)."""
        from tcbench.data.labels import read_labels

        return read_labels(self.data.parquet)

    def split(self, labels: FlowLabels, seed: int | None = None) -> RunSplit:
        """The run's train/val rows and test sets: the split of ``split_index``, with the 80/20
        train/val draw of ``seed`` (default: the run's ``seed``)."""
        from tcbench.features.run_inputs import load_run_split

        return load_run_split(self.params, self.data, self.dataset, labels, self.params["seed"] if seed is None else seed)

    def flowpics(self) -> FlowpicStore:
        """Every flow's flowpic at the run's dim and block duration (``rows_for(row_ids)`` gives a uint8 CSR
        matrix, one flattened flowpic per row)."""
        from tcbench.features.run_inputs import load_flowpics

        return load_flowpics(self.data, self.params["flowpic_dim"], self.params["flowpic_block_duration"])

    def side_pool(self, name: str = "data") -> ThreadPoolExecutor:
        """A one-thread pool that lives as long as the run (for work that overlaps with ``import torch``)."""
        return self.stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix=name))

    # ------------------------------------------------------------------------------------------- tracking
    def start_tracking(self, *warm_imports: str) -> None:
        """Open the AIM run in the background now (right before the heavy compute), then import ``warm_imports``
        on the same thread (modules needed after training, e.g. pandas for the report files)."""
        self.side_tracker().start(*warm_imports)

    def track(self, value: float, name: str, context: str, epoch: int | None = None) -> None:
        self.side_tracker().track(value, name, context, epoch)

    def record(self, context: str, scores: Mapping[str, float], *, tracked_as: str | None = None) -> dict[str, float]:
        """Keep ``scores`` as the run's final metrics of ``context`` and track each under ``tracked_as`` (default:
        the same context)."""
        self.metrics.setdefault(context, {}).update(scores)
        for name, value in scores.items():
            self.track(value, name, tracked_as or context)
        return dict(scores)

    def report(self, context: str, y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
        """The original's ``<context>_class_rep.csv`` and ``<context>_conf_mtx.csv``; returns acc, precision,
        recall, f1 (weighted)."""
        from tcbench.training.metrics import class_report_frame, classification_metrics, confusion_frame

        names = list(classes)
        class_report_frame(y_true, y_pred, names).to_csv(self.artifacts / f"{context}_class_rep.csv", index=False)
        confusion_frame(y_true, y_pred, names).to_csv(self.artifacts / f"{context}_conf_mtx.csv", index=False)
        return classification_metrics(y_true, y_pred, names)

    def side_tracker(self) -> SideTracker:
        """The run's AIM run on its side thread, made on first use (the run template flushes and closes it)."""
        if self.tracker is None:
            self.tracker = SideTracker(self.stack, self.run_dir / "aim", self.place.aim_template, self.experiment,
                                       self.method.hparams(self.params), self.key, self.started,
                                       tags=self.method.tags(self.params))
        return self.tracker
