"""Run parameters, each declared once: name, type, default, valid values, help, and whether it changes a result.

Everything else is derived from these declarations: the config schema's fragments and defaults
(``tcbench.methods.schema``, checked against ``workflow/schemas/config.schema.yaml`` by a test), the ``tcbench run``
options (``tcbench.cli.run``), the run's identity (``tcbench.runs.identity``: only parameters with ``result=True``
enter the run key), the AIM hparams and tags, and the validation of a run's parameters (:meth:`Param.check`, the one
place where a value is checked against its declaration, whether it came from a config, a job or a command line).

The parameters several methods share are declared here; a method's own parameters live in its module.
"""

from __future__ import annotations

import re

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Param:
    """One run parameter.

    ``kind`` is the type a value is normalised to before it is hashed into the run key, so YAML's ``15``, JSON's
    ``15.0`` and the command line's ``"15"`` give the same key. ``result=False`` marks a label: it names or places
    a run (device, threads, AIM experiment, folders) and never enters its identity. ``section`` is the config
    section a setting is read from (None: the method's own section). ``tag`` is the AIM tag prefix of the
    parameter when a grid varies it (``dim`` gives ``dim:32``).
    """

    name: str
    kind: type
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

    def tag_for(self, value: Any) -> str:
        text = str(value).lower() if isinstance(value, bool) else ",".join(value) if isinstance(value, list) else str(value)
        return f"{self.tag or self.name}:{text}"


def _in_bounds(param: Param, value: float) -> bool:
    checks = ((param.minimum, lambda b: value >= b), (param.exclusive_minimum, lambda b: value > b),
              (param.maximum, lambda b: value <= b), (param.exclusive_maximum, lambda b: value < b))
    return all(bound is None or ok(bound) for bound, ok in checks)


# --------------------------------------------------------------------------------------------------------------
# Parameters several methods share. Their config section is `training` (where they always were), whatever the
# method's own section is.
def _augmentation_names() -> tuple[str, ...]:
    from tcbench.augment import augmentation_names

    return tuple(augmentation_names())


def _flowpic_dims() -> tuple[int, ...]:
    from tcbench.features.flowpic import VALID_DIMS

    return VALID_DIMS


SPLIT_INDEX = Param("split_index", int, 0, "Train split (0..n_splits-1), or -1 for the whole pretraining partition.",
                    minimum=-1, tag="split")
SEED = Param("seed", int, 12345, "Run seed: weight init, shuffling and the 80/20 train/val draw.", minimum=0, tag="seed")
FLOWPIC_DIM = Param("flowpic_dim", int, 32, "Flowpic resolution.", choices_from=_flowpic_dims, tag="dim")
AUG_NAME = Param("aug_name", str, "noaug", "Augmentation applied at loading: the flows plus augmented copies.",
                 choices_from=_augmentation_names, tag="aug", component="augmentation")
WITH_DROPOUT = Param("with_dropout", bool, True,
                     "Dropout2d(0.25) after conv2 and feature Dropout(0.5) after the last FC layer.",
                     section="training", off_option="--no-dropout", tag="dropout")
FLOWPIC_BLOCK_DURATION = Param("flowpic_block_duration", float, 15.0, "Seconds of each flow covered by the flowpic.",
                               exclusive_minimum=0, section="training")
TRAIN_VAL_SPLIT_RATIO = Param("train_val_split_ratio", float, 0.8,
                              "Fraction of each class of the split used for training; the rest validates.",
                              exclusive_minimum=0, exclusive_maximum=1, section="training")
MAX_SAMPLES_PER_CLASS = Param("max_samples_per_class", int, -1,
                              "Cap on flows per class before the train/val split (-1: no cap).", minimum=-1,
                              section="training")
TEST_LEFTOVER = Param("test_leftover", bool, True,
                      "Also test on every flow not used for train/val (the original's test-train-val-leftover).",
                      section="training")

# Labels: where and how a run executes, never part of its identity (changing them re-runs nothing).
DEVICE = Param("device", str, "cpu", "torch device: cpu, cuda or cuda:N (cuda must be available).", result=False,
               pattern=r"cpu|cuda(:[0-9]+)?", pattern_help="cpu, cuda or cuda:N")
THREADS = Param("threads", int, 1, "torch / XGBoost CPU threads.", minimum=1, result=False)
EXPERIMENT = Param("experiment", str, "", "AIM experiment name [default: the method's, as the original names it].",
                   result=False)
LABELS: tuple[Param, ...] = (DEVICE, THREADS, EXPERIMENT)
