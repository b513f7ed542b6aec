"""``tcbench run``: one training run, the unit of work of every campaign job.

The commands are built from the method declarations (``tcbench.methods``): ``tcbench run <method>`` for every
registered method (plugins included), with one option per declared parameter, plus the original's command names
(``augment-at-loading`` for the CNN and XGBoost with ``--method``, ``contralearn-and-finetune``,
``contralearn-pretrain``). ``tcbench run job PARAMS_JSON`` is what a Snakemake job runs: the run's parameters handed
over once, as the canonical JSON the campaign grid built, rather than rendered into options and parsed back.
"""

from __future__ import annotations

import dis
import inspect
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import click

from tcbench.cli import fast_exit
from tcbench.cli.errors import fail, plugin_hint
from tcbench.methods.params import LABELS, Param


class DeclaredValue(click.ParamType):
    """A click type checking a value against its declaration (``Param.check``), so the command line, a config and
    a job's JSON are validated by the same code and say the same thing."""

    def __init__(self, param: Param) -> None:
        self.param = param
        self.name = param.kind.__name__

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        valid = self.param.valid_values()
        if valid is not None:
            shown = "|".join(map(str, valid))
            return f"NAME[,NAME...] of [{shown}]" if self.param.kind is list else f"[{shown}]"
        if self.param.pattern_help is not None:
            return f"[{self.param.pattern_help.replace(', ', '|').replace(' or ', '|')}]"
        bounds = self.param.bounds()
        return f"{self.param.kind.__name__.upper()}{' ' + bounds if bounds else ''}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.param.check(value)
        except ValueError as exc:
            self.fail(str(exc).removeprefix(f"{self.param.name}: "), param, ctx)


def option(param: Param, *, required: bool = False) -> click.Option:
    """The command-line option of a declared parameter."""
    if param.kind is bool:
        return click.Option([f"{param.option_name}/{param.off_option_name}", param.name], default=param.default,
                            help=param.help, show_default=True)
    default = ",".join(param.default) if param.kind is list else param.default
    return click.Option([param.option_name, param.name], type=DeclaredValue(param), default=default, help=param.help,
                        show_default=True, required=required)


def _dataset_names() -> tuple[str, ...]:
    from tcbench.data.registry import DATASET_NAMES

    return DATASET_NAMES


# Where the data is and which splits file a run reads: every method. Part of the identity through the dataset's
# own identity (dataset.json) and the splits settings.
DATASET_NAME = Param("dataset", str, "ucdavis-icdm19", "Dataset of --dataset-dir.", choices_from=_dataset_names)
DATASET_MINPKTS = Param("dataset_minpkts", int, -1,
                        "Filtered variant of mirage19 / mirage22 / utmobilenet21 (10; mirage22 also 1000); -1 for ucdavis-icdm19.")
N_SPLITS = Param("n_splits", int, 5, "Number of train splits of the dataset (selects the splits file).", minimum=1)
SAMPLES_PER_CLASS = Param("samples_per_class", int, 100, "Flows per class of each train split (selects the splits file).",
                          minimum=1)
DATA_PARAMS = (DATASET_NAME, DATASET_MINPKTS, N_SPLITS, SAMPLES_PER_CLASS)
PRETRAIN_DIR = Param("pretrain_dir", str, "",
                     "Folder of this run's pre-step (results/pretrain/<key>); runs it there first when it holds none.",
                     result=False)


def _where_options() -> list[click.Option]:
    path = click.Path(file_okay=False, path_type=Path)
    return [
        click.Option(["--run-dir"], type=path, default=None,
                     help="Run folder; default <results-dir>/runs/<run_key> (pretrain/<key> for a pre-step). Its name "
                          "must equal the key."),
        click.Option(["--results-dir"], type=path, default=Path("results"), show_default=True,
                     help="Results root used when --run-dir is not given."),
        click.Option(["--aim-template"], type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Empty AIM repo to copy instead of creating one (saves ~2 s of AIM migrations per run; made "
                          "there by the first run that needs it)."),
    ]


def _dataset_dir_option() -> click.Option:
    return click.Option(["--dataset-dir"], type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
                        help="Prepared dataset folder: <dataset>.parquet, dataset.json, splits/, flowpics/ "
                             "(filtered/ when imported).")


def _stop(message: str, code: int) -> None:
    """One line on stderr, then exit without waiting for AIM's teardown (fast_exit: it can block forever)."""
    fast_exit.request(code)
    fail(message, code)


#: What tcbench raises for a mistake in what the user gave it (config, options, data): its checks of a run's
#: parameters and dataset before the method runs, and its readers of the run's data (DatasetError is a ValueError, a
#: diverged training a FloatingPointError, a missing splits file a FileNotFoundError).
_MISTAKES = (ValueError, FileNotFoundError, FloatingPointError)
_TCBENCH_DIR = Path(__file__).resolve().parent.parent
_RAISE = dis.opmap["RAISE_VARARGS"]


@dataclass(frozen=True)
class Failure:
    """How a failed run is reported: ``mistake`` (one line, exit 2) or a bug (traceback, exit 1), and for a bug the
    innermost place in the method's or plugin's code it passed through (``file:line in function``)."""

    mistake: bool
    where: str | None = None


def classify_failure(exc: BaseException, methods: Sequence[Any] = ()) -> Failure:
    """A mistake or a bug, decided by where ``exc`` comes from rather than by its type alone.

    Raised outside every method's ``execute`` (the checks of the parameters, the dataset and the run folder, the
    checks of what ``execute`` returned), a ``ValueError``, ``FileNotFoundError`` or ``FloatingPointError`` is a
    mistake in the user's input: those checks raise nothing else on purpose. An exception escaping ``execute`` is
    a bug, unless a ``raise`` statement of tcbench's own code raised it (the readers of the run's data and the
    training loop check the data and the options the run was given, in messages written for the user). A
    ``ValueError`` from numpy, scikit-learn or torch, from the interpreter (a failed unpacking) or from a plugin's
    code is a bug: it keeps its traceback, and ``where`` names the line of the method's code it came through.
    ``methods`` (the run's method and its pre-step) add their files to those of the ``execute`` frames.
    """
    from tcbench.contract import Method

    entries: list[TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    executes = [tb for tb in entries if tb.tb_frame.f_code.co_name == "execute"
                and isinstance(tb.tb_frame.f_locals.get("self"), Method)]
    files = {_source_file(m if isinstance(m, type) else type(m)) for m in methods if m is not None}
    for tb in executes:
        files |= {tb.tb_frame.f_code.co_filename, _source_file(type(tb.tb_frame.f_locals["self"]))}
    files.discard(None)
    inside = [tb for tb in entries if tb.tb_frame.f_code.co_filename in files]
    where = None
    if inside:
        from tcbench.plugins import shown_path

        last = inside[-1]
        where = f"{shown_path(last.tb_frame.f_code.co_filename)}:{last.tb_lineno} in {last.tb_frame.f_code.co_name}"
    if not isinstance(exc, _MISTAKES):
        return Failure(False, where)
    if not executes:
        return Failure(True)
    return Failure(True) if entries and _raised_by_tcbench(entries[-1]) else Failure(False, where)


def _raised_by_tcbench(tb: TracebackType) -> bool:
    """Whether the frame ``tb`` ends in is a ``raise`` statement of the tcbench package."""
    code = tb.tb_frame.f_code
    try:
        Path(code.co_filename).resolve().relative_to(_TCBENCH_DIR)
    except ValueError:
        return False
    return 0 <= tb.tb_lasti < len(code.co_code) and code.co_code[tb.tb_lasti] == _RAISE


def _source_file(cls: type) -> str | None:
    try:
        return inspect.getsourcefile(cls) or inspect.getfile(cls)
    except TypeError:
        return None


class _TracebackIntoRunLog(logging.Filter):
    """Gives the run's failure line in its log (``artifacts/log.txt``) the traceback of a bug, so the log of a
    failed job shows where the method's code failed; a mistake or a storage fault stays one line there too."""

    def __init__(self, methods: Sequence[Any]) -> None:
        super().__init__()
        self.methods = methods

    def filter(self, record: logging.LogRecord) -> bool:
        from tcbench.runs.faults import io_failure

        exc = sys.exc_info()[1]
        if record.levelno < logging.ERROR or record.exc_info is not None or not isinstance(exc, Exception):
            return True
        try:
            if io_failure(exc) is None and not classify_failure(exc, self.methods).mistake:
                record.exc_info = sys.exc_info()
        except Exception:  # the failure line is written anyway; only its traceback would be missing
            pass
        return True


def _execute(method: Any, params: dict[str, Any], place: Any) -> None:
    """Run; say why a run failed: a mistake in the user's input in one line (exit 2), a storage fault in one line
    (exit 1), an interruption (130), a bug with its traceback and a last line naming the method's code (exit 1);
    print the done line; exit fast either way."""
    from tcbench.plugins import is_builtin
    from tcbench.runs.faults import io_failure, storage_problem
    from tcbench.runs.template import execute_run

    logging.raiseExceptions = False  # a full disk must not print a traceback per log line that cannot be written
    run_log = logging.getLogger("tcbench.run")
    into_log = _TracebackIntoRunLog((method, method.pre_step))
    run_log.addFilter(into_log)
    try:
        marker = execute_run(method, params, place)
    except KeyboardInterrupt:
        _stop("interrupted; the run has no marker (the next attempt starts it again)", 130)
    except Exception as exc:
        cause = io_failure(exc) or storage_problem(place.run_dir or place.results_dir)
        if cause is not None:
            _stop(f"cannot write the run's results: {cause}; no marker written (the next attempt starts clean)", 1)
        failure = classify_failure(exc, (method, method.pre_step))
        if failure.mistake:
            _stop(str(exc), 2)
        traceback.print_exc()
        said = " ".join(f"{type(exc).__name__}: {exc}".split())  # the last line stays one line
        if failure.where is not None and not is_builtin(type(method)):
            _stop(f"{said} (a bug in the code of method {method.name}, at {failure.where}; the traceback above and "
                  "the run's log show the calls); no marker written", 1)
        at = f" at {failure.where}" if failure.where is not None else ""
        _stop(f"{said} (a bug{at}, please report it with the traceback above); no marker written", 1)
    finally:
        run_log.removeFilter(into_log)
    click.echo(method.done_line(marker))
    fast_exit.request()  # every output is closed (the marker fsynced): nothing is left for teardown to flush


def method_command(name: str, methods: Sequence[Any]) -> click.Command:
    """A ``tcbench run`` command for one method, or for several sharing the original's command name (then with
    ``--method``); one option per declared parameter, each declared once even when methods share it."""
    declared: dict[str, Param] = {}
    for method in methods:
        for param in (*method.params(), *DATA_PARAMS, *LABELS, *((PRETRAIN_DIR,) if method.pre_step else ())):
            known = declared.setdefault(param.name, param)
            if known is not param and known != param:
                raise click.UsageError(f"methods {[m.name for m in methods]} declare {param.name} differently")
    options: list[click.Parameter] = [_dataset_dir_option()]
    if len(methods) > 1:
        options.append(click.Option(["--method"], type=click.Choice([m.name for m in methods]), default=methods[0].name,
                                    show_default=True, help="; ".join(f"{m.name}: {m.summary}" for m in methods)))
    options += [option(p) for p in declared.values()] + _where_options()
    by_name = {m.name: m for m in methods}

    def callback(**kwargs: Any) -> None:
        from tcbench.contract import Placement
        from tcbench.data.dataset_info import read_dataset_spec, with_min_pkts
        from tcbench.runs.identity import run_params

        method = by_name[kwargs.pop("method", methods[0].name)]
        dataset_dir = kwargs["dataset_dir"]
        try:
            found = read_dataset_spec(dataset_dir)
        except FileNotFoundError as exc:
            fail(exc)
        if found.get("name") != kwargs["dataset"]:
            fail(ValueError(f"--dataset {kwargs['dataset']}: {dataset_dir} holds {found.get('name')!r} "
                             f"(its dataset.json); valid values: [{found.get('name')!r}]"))
        values = {p.name: kwargs[p.name] for p in method.params()}
        params = run_params(method, with_min_pkts(found, kwargs["dataset_minpkts"]),
                            {"n_splits": kwargs["n_splits"], "samples_per_class": kwargs["samples_per_class"]}, values)
        place = Placement(dataset_dir=dataset_dir, results_dir=kwargs["results_dir"], run_dir=kwargs["run_dir"],
                          aim_template=kwargs["aim_template"], device=kwargs["device"], threads=kwargs["threads"],
                          experiment=kwargs["experiment"],
                          pre_step_dir=Path(kwargs["pretrain_dir"]) if kwargs.get("pretrain_dir") else None)
        _execute(method, params, place)

    summary = methods[0].summary if len(methods) == 1 else " / ".join(m.summary for m in methods)
    return click.Command(name, params=options, callback=callback,
                         help=f"{summary} Writes an AIM run, artifacts and marker.json under the run folder.",
                         context_settings={"show_default": True})


@click.command("job")
@click.argument("params_json")
@click.option("--dataset-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Prepared dataset folder holding the data the parameters name.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="results/<kind>/<key>: the folder named by the run key of PARAMS_JSON.")
@click.option("--aim-template", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Empty AIM repo to copy instead of creating one (made there by the first run that needs it).")
@click.option("--device", type=DeclaredValue(LABELS[0]), default=LABELS[0].default, show_default=True, help=LABELS[0].help)
@click.option("--threads", type=DeclaredValue(LABELS[1]), default=LABELS[1].default, show_default=True, help=LABELS[1].help)
def job(params_json: str, dataset_dir: Path, run_dir: Path, aim_template: Path | None, device: str, threads: int) -> None:
    """One run of a campaign, as its Snakemake job starts it: PARAMS_JSON is the run's canonical parameters (a JSON
    object with "method"); results_dir is the parent of the run folder's parent."""
    from tcbench.contract import Placement
    from tcbench.methods import get_method

    try:
        params = json.loads(params_json)
        if not isinstance(params, dict) or "method" not in params:
            raise ValueError("PARAMS_JSON must be a JSON object with a 'method'")
        method = get_method(params["method"])
    except (ValueError, json.JSONDecodeError) as exc:
        fail(exc)
    _execute(method, params, Placement(dataset_dir=dataset_dir, results_dir=run_dir.parent.parent, run_dir=run_dir,
                                       aim_template=aim_template, device=device, threads=threads))


class RunCommands(click.Group):
    """``tcbench run``'s commands come from the method registry when asked for, so a plugin is a command too."""

    def _aliases(self) -> dict[str, list[Any]]:
        from tcbench.methods.registry import get_method, method_names

        out: dict[str, list[Any]] = {}
        for name in method_names(include_steps=True):
            method = get_method(name)
            for command in method.commands:
                out.setdefault(command, []).append(method)
        return out

    def list_commands(self, ctx: click.Context) -> list[str]:
        from tcbench.methods.registry import method_names

        return [*super().list_commands(ctx), *self._aliases(), *method_names(include_steps=True)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        from tcbench.methods.registry import PluginError, get_method

        try:
            aliases = self._aliases()
            if cmd_name in aliases:
                return method_command(cmd_name, aliases[cmd_name])
            return method_command(cmd_name, [get_method(cmd_name)])
        except PluginError as exc:
            fail(exc)
        except ValueError:  # neither a command nor a method: perhaps the method of a plugin not loaded
            if ctx.resilient_parsing:  # shell completion asks about partial words: no message, no exit
                return None
            fail(f"tcbench run {cmd_name}: no such command or method; valid values: {self.list_commands(ctx)}; "
                 f"{plugin_hint(f'run {cmd_name} --help')}")


@click.group(cls=RunCommands)
def run() -> None:
    """Run a single experiment (one Snakemake job of a campaign): `tcbench run <method> --help` lists its options."""


run.add_command(job)
