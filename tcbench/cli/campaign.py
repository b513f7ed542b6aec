"""``tcbench campaign``: the downstream steps of a campaign (merge the per-run AIM repos, summarise)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from tcbench.cli.errors import fail


def _campaign_labels(campaign_id: str, n: int) -> list[dict[str, object]]:
    """Markers are passed in grid order, so position + 1 is the original's 1-based campaign_exp_idx."""
    return [{"campaign_id": campaign_id, "campaign_exp_idx": i} for i in range(1, n + 1)]


#: Options of `tcbench campaign` steps that name what they write: on a storage fault without a file name, the file
#: systems of these are checked for the cause.
_OUTPUT_OPTIONS = ("--dst", "--output-dir", "--campaign-dir", "--output", "--report", "--path", "--output-folder")


class _CampaignGroup(click.Group):
    """Every campaign step ends on a storage fault (disk full, read-only, permission) with one line naming the cause
    and the path, exit 1, and without waiting for AIM's teardown (it can block on a full disk): a workflow job's log
    is on that disk too, and Snakemake's storage guard names the cause on the terminal."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            from tcbench.cli import fast_exit
            from tcbench.runs.faults import io_failure, storage_problem

            args = [*getattr(ctx, "_protected_args", []), *ctx.args]
            outputs = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg in _OUTPUT_OPTIONS]
            cause = io_failure(exc) or next((p for p in map(storage_problem, outputs) if p is not None), None)
            if cause is None:
                raise
            fast_exit.request(1)
            fail(f"cannot write the campaign's files: {cause}; nothing finished was replaced (outputs are written "
                 "atomically)", 1)


@click.group(cls=_CampaignGroup)
def campaign() -> None:
    """Campaign-level steps: merge per-run AIM repos, write summaries."""


# How a campaign command runs Snakemake, shared by every campaign command.
_cores_option = click.option("--cores", default="all", show_default=True, help="Snakemake --cores.")
_profile_option = click.option("--profile", default=None, help="Snakemake profile: a folder, or one of the project's "
                               "profiles by name (local, local-gpu, slurm-gpu).")
_directory_option = click.option(
    "--directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
    help="The campaign's project folder: relative paths of the config (results_dir, datasets_dir) resolve there "
         "(Snakemake's --directory) [default: the current folder when it is a tcbench project (it holds the "
         "Snakefile, the config, or results or datasets of it), else the config's project (the folder above its "
         "config/ folder, or holding it), else the project holding the Snakefile].")


def _project(directory: Path | None, configfile: Path | None, config: dict[str, Any]) -> Any:
    """The project folder a command works in (tcbench.campaign.folder.choose_project); says so when it is not the
    folder the command started in."""
    from tcbench.campaign.compose import SNAKEFILE
    from tcbench.campaign.folder import choose_project

    start = directory or Path.cwd()
    given = [configfile] if configfile is not None else [start / "config" / "config.yaml"]
    project = choose_project(start, directory is not None, SNAKEFILE.parent, given, config)
    if project.note():
        click.echo(project.note(), err=True)
    return project


def _csv(cast):
    """A comma-list option of ``cast`` values; a bad item is a usage error naming it (exit 2, no traceback)."""
    kind = {int: "integers", float: "numbers"}.get(cast, "names")

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> list[Any] | None:
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        try:
            return [cast(v) for v in items]
        except ValueError:
            bad = [v for v in items if not _castable(cast, v)]
            raise click.BadParameter(f"{value!r}: {bad} not {kind}; valid values: a comma list of {kind}") from None

    return parse


def _castable(cast: Any, text: str) -> bool:
    try:
        cast(text)
    except ValueError:
        return False
    return True


def _load_configfile(path: Path | None) -> dict[str, Any] | None:
    """A campaign config file, or a one-line error naming it (a YAML syntax error with its line and column)."""
    from tcbench.campaign.config import ConfigError, load_config_file

    if path is None:
        return None
    try:
        return load_config_file(path)
    except ConfigError as exc:
        fail(exc)


class MethodChoice(click.Choice):
    """The methods answering to one of the original's command names, read from the registry when first needed (so
    ``tcbench --help`` imports no method, and a plugin that declares the command name is offered too)."""

    def __init__(self, command: str) -> None:
        self.command = command
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> list[str]:
        return _command_methods(self.command)

    @choices.setter
    def choices(self, value: Any) -> None:
        pass


def _command_methods(command: str) -> list[str]:
    from tcbench.methods import methods

    return [m.name for m in methods() if command in m.commands]


@campaign.command("augment-at-loading")
@click.option("--configfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from this campaign config (e.g. config/campaigns/*.yaml); the options below override it.")
@click.option("--campaign-id", default=None, help="Campaign name [default: from --configfile, else augment-at-loading].")
@click.option("--method", type=MethodChoice("augment-at-loading"), default=None,
              help="The method [default: from --configfile, else the first listed: the CNN].")
@click.option("--input-repr", type=click.Choice(["pktseries", "flowpic"]), default=None, help="XGBoost input.")
@click.option("--augmentations", callback=_csv(str), default=None,
              help="Comma list [default: noaug,rotate,horizontalflip,colorjitter,packetloss,changertt,timeshift].")
@click.option("--flowpic-dims", callback=_csv(int), default=None, help="Comma list [default: 32,64,1500].")
@click.option("--pktseries-len", callback=_csv(int), default=None, help="XGBoost pktseries lengths, comma list [default: 10,30].")
@click.option("--seeds", callback=_csv(int), default=None, help="Comma list [default: 12345,42,666].")
@click.option("--split-indexes", callback=_csv(int), default=None, help="Comma list [default: 0,1,2,3,4].")
@click.option("--max-train-splits", type=int, default=None, help="Keep only the first N split indexes (-1: all).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Maximum epochs [default: 50].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Mini-batch size [default: 32].")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Adam learning rate [default: 0.001].")
@click.option("--patience-steps", type=click.IntRange(min=1), default=None, help="Early-stopping patience [default: 5].")
@click.option("--no-dropout", is_flag=True, default=False, help="Train without dropout.")
@click.option("--no-test-leftover", is_flag=True, default=False, help="Skip the test-train-val-leftover test.")
@click.option("--suppress-val-augmentation", is_flag=True, default=False, help="Validate on the original flows only.")
@click.option("--max-samples-per-class", type=int, default=None, help="Cap per class before the train/val split (-1: none).")
@click.option("--dry-run", is_flag=True, help="Print the campaign composition and exit.")
@_cores_option
@_profile_option
@_directory_option
def augment_at_loading_campaign(configfile: Path | None, dry_run: bool, cores: str, profile: str | None,
                                directory: Path | None, **opts: Any) -> None:
    """Plan (--dry-run) or run the augment-at-loading campaign, as the original's command, through Snakemake."""
    config = _load_configfile(configfile) or {
        "campaign_id": "augment-at-loading", "dataset": {"name": "ucdavis-icdm19"},
        "grid": {"split_index": [0, 1, 2, 3, 4], "seed": [12345, 42, 666]},
    }
    _apply_options(config, opts, "augment-at-loading")
    _plan_or_run(config, dry_run, cores, profile, _project(directory, configfile, config), configfile)


def _campaign_method(config: dict[str, Any], command: str) -> Any:
    """The config's method (set to the command's first when the config names none); a one-line error if unknown."""
    from tcbench.methods import get_method

    if not config.get("method"):
        config["method"] = _command_methods(command)[0]
    try:
        return get_method(config["method"])
    except ValueError as exc:
        fail(exc)


def _set_setting(config: dict[str, Any], command: str, name: str, value: Any, option: str) -> None:
    """Put a command-line value into the config section the method declares the setting in."""
    method = _campaign_method(config, command)
    try:
        param = method.param(name)
    except KeyError:
        click.echo(f"error: {option}: method {method.name} has no setting {name}; methods that have it: "
                   f"{[m for m in _command_methods(command) if _declares(m, name)]} (--method)", err=True)
        sys.exit(2)
    config.setdefault(param.section or method.section, {})[name] = value


def _declares(method_name: str, param: str) -> bool:
    from tcbench.methods import get_method

    return any(p.name == param for p in get_method(method_name).params())


def _with_campaign_defaults(config: dict[str, Any], command: str, axes: dict[str, list[Any] | None]) -> None:
    """Set the method (when the config names none, the command's first) and fill in the original's default grid of
    the method's campaign command; ``axes`` (command-line values, None when not given) override the grid, for the
    axes the method varies."""
    method = _campaign_method(config, command)
    settings = {p.name: (config.get(p.section or method.section) or {}).get(p.name, p.default) for p in method.settings}
    grid = config.setdefault("grid", {})
    for axis, values in method.campaign_defaults(settings).items():
        grid.setdefault(axis, values)
    varied = {a.name for a in method.grid_axes(settings)}
    grid.update({axis: values for axis, values in axes.items() if values is not None and axis in varied})

def _plan_or_run(config: dict[str, Any], dry_run: bool, cores: str, profile: str | None, project: Any,
                 configfile: Path | None) -> None:
    """Validate and print the composition; unless ``dry_run``, save the config and run Snakemake on it, in the
    project folder (``project``: relative paths of the config resolve there, as for Snakemake itself)."""
    import contextlib

    import yaml

    from tcbench.campaign.compose import SNAKEFILE, complete_config, composition, resolve_profile
    from tcbench.campaign.config import ConfigError, check_paths
    from tcbench.campaign.folder import ProjectError, check_project
    from tcbench.campaign.lock import CampaignBusy, campaign_lock
    from tcbench.campaign.progress import run_with_progress
    from tcbench.reporting.console import make_console
    from tcbench.runs.faults import io_failure

    folder = project.folder
    try:
        profile_dir = resolve_profile(profile) if profile else None
        with contextlib.chdir(folder):
            check_paths(config)  # a results_dir that is a file, or read-only: one line per path, before anything
            complete_config(config)
            check_project(folder, [configfile] if configfile is not None else [], config)
            text = composition(config)
    except (ConfigError, ProjectError, ValueError, FileNotFoundError) as exc:
        fail(exc)
    click.echo(text)
    if dry_run:
        return
    out = folder / config["results_dir"] / "campaigns" / config["campaign_id"] / "campaign_config.yaml"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(config, sort_keys=False))
    except OSError as exc:
        fail(f"cannot write {out}: {io_failure(exc) or exc}", 1)
    # --rerun-incomplete: after a kill, a job Snakemake had started is re-run (its outputs are atomic, never partial).
    base = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(folder), "--configfile", str(out)]
    cmd = [*base, "--cores", cores, "--rerun-incomplete"]
    if profile_dir is not None:
        cmd += ["--profile", str(profile_dir)]
    try:
        with campaign_lock(folder) as stale:
            if stale:
                released = subprocess.run([*base, "--unlock"], capture_output=True, text=True)
                if released.returncode != 0:
                    fail(f"cannot release Snakemake's lock: {released.stderr.strip()[-500:]}", 1)
                click.echo("released a stale Snakemake lock left by a killed campaign (no Snakemake process works in "
                           f"{folder})")
            click.echo("running: " + " ".join(cmd))
            code = run_with_progress(cmd, f"campaign {config['campaign_id']}", make_console())
    except CampaignBusy as exc:
        fail(exc)
    sys.exit(code)


def _apply_options(config: dict[str, Any], opts: dict[str, Any], command: str) -> None:
    """Overlay the command-line options on the config, with the original's defaults where the config is silent."""
    training = config.setdefault("training", {})
    if opts["campaign_id"]:
        config["campaign_id"] = opts["campaign_id"]
    if opts["method"]:
        config["method"] = opts["method"]
    if opts["input_repr"]:
        _set_setting(config, command, "flow_representation", opts["input_repr"], "--input-repr")
    _with_campaign_defaults(config, command, {
        "split_index": opts["split_indexes"], "seed": opts["seeds"], "flowpic_dim": opts["flowpic_dims"],
        "max_n_pkts": opts["pktseries_len"], "aug_name": opts["augmentations"]})
    grid = config["grid"]
    if opts["max_train_splits"] is not None and opts["max_train_splits"] > 0:
        grid["split_index"] = grid["split_index"][: opts["max_train_splits"]]
    for key in ("epochs", "batch_size", "learning_rate", "patience_steps", "max_samples_per_class"):
        if opts[key] is not None:
            training[key] = opts[key]
    if opts["no_dropout"]:
        training["with_dropout"] = False
    if opts["no_test_leftover"]:
        training["test_leftover"] = False
    if opts["suppress_val_augmentation"]:
        training["suppress_val_augmentation"] = True


DROPOUT_VALUES = {"enabled": True, "disabled": False}


def _dropout_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[bool] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in DROPOUT_VALUES]
    if bad or not names:
        raise click.BadParameter(f"{bad or value!r}: valid values are a comma list of {list(DROPOUT_VALUES)}")
    return [DROPOUT_VALUES[n] for n in names]


@campaign.command("contralearn-and-finetune")
@click.option("--configfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from this campaign config (e.g. config/campaigns/imc23-ucdavis-contralearn-*.yaml); the options below override it.")
@click.option("--campaign-id", default=None, help="Campaign name [default: from --configfile, else contralearn-and-finetune].")
@click.option("--split-indexes", callback=_csv(int), default=None, help="Comma list [default: 0,1,2,3,4].")
@click.option("--max-train-splits", type=int, default=None, help="Keep only the first N split indexes (-1: all).")
@click.option("--cl-seeds", callback=_csv(int), default=None, help="Pre-training seeds, comma list [default: 12345,1,2,3,4].")
@click.option("--ft-seeds", callback=_csv(int), default=None, help="Finetune seeds, comma list [default: 12345,1,2,3,4].")
@click.option("--flowpic-dims", callback=_csv(int), default=None, help="Comma list of 32, 64, 1500 [default: 32].")
@click.option("--dropout", callback=_dropout_list, default=None,
              help="Comma list of enabled/disabled: one grid value each [default: disabled].")
@click.option("--cl-projection-layer-dims", callback=_csv(int), default=None, help="Projection head widths, comma list [default: 30].")
@click.option("--augmentations", callback=_csv(str), default=None,
              help="View augmentations composed into each view, comma list [default: changertt,timeshift].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Pre-training and finetune batch size [default: 32].")
@click.option("--train-val-split-ratio", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=None,
              help="Pre-training train share of each class of the split [default: 0.8].")
@click.option("--dry-run", is_flag=True, help="Print the campaign composition and exit.")
@_cores_option
@_profile_option
@_directory_option
def contralearn_and_finetune_campaign(configfile: Path | None, dry_run: bool, cores: str, profile: str | None,
                                      directory: Path | None, **opts: Any) -> None:
    """Plan (--dry-run) or run the SimCLR campaign (pre-training shared by every finetune seed) through Snakemake."""
    config = _load_configfile(configfile) or {
        "campaign_id": "contralearn-and-finetune", "dataset": {"name": "ucdavis-icdm19"},
        "grid": {"split_index": [0, 1, 2, 3, 4]},
    }
    config["method"] = _command_methods("contralearn-and-finetune")[0]
    simclr = config.setdefault(config["method"], {})
    _with_campaign_defaults(config, "contralearn-and-finetune", {
        "split_index": opts["split_indexes"], "contrastive_learning_seed": opts["cl_seeds"],
        "finetune_seed": opts["ft_seeds"], "flowpic_dim": opts["flowpic_dims"], "with_dropout": opts["dropout"],
        "projection_layer_dim": opts["cl_projection_layer_dims"]})
    grid = config["grid"]
    if opts["max_train_splits"] is not None and opts["max_train_splits"] > 0:
        grid["split_index"] = grid["split_index"][: opts["max_train_splits"]]
    if opts["campaign_id"]:
        config["campaign_id"] = opts["campaign_id"]
    if opts["augmentations"]:
        simclr["augmentations"] = opts["augmentations"]
    if opts["batch_size"] is not None:
        simclr["cl_batch_size"] = simclr["ft_batch_size"] = opts["batch_size"]
    if opts["train_val_split_ratio"] is not None:
        config.setdefault("training", {})["train_val_split_ratio"] = opts["train_val_split_ratio"]
    _plan_or_run(config, dry_run, cores, profile, _project(directory, configfile, config), configfile)


@campaign.command("status")
@click.option("--configfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The campaign's config (the one given to snakemake --configfile) [default: config/config.yaml of "
                   "the project].")
@click.option("--directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The campaign's project folder (Snakemake's -d / --directory; relative results_dir are resolved "
                   "there) [default: the current folder when it is a tcbench project, else the config's project, "
                   "else the project holding the Snakefile, as for snakemake and the campaign commands].")
@click.option("--state", "states", multiple=True, type=click.Choice(["done", "running", "failed", "pending"]),
              help="Only list runs in this state (repeatable) [default: every state but done].")
@click.option("--all", "show_all", is_flag=True, help="List done runs too.")
@click.option("--watch", is_flag=True, help="Refresh until every run is done (Ctrl-C to stop watching).")
@click.option("--interval", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="Seconds between refreshes with --watch.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per run instead of the table.")
def status(configfile: Path | None, directory: Path | None, states: tuple[str, ...], show_all: bool, watch: bool,
           interval: float, as_json: bool) -> None:
    """Every run of a campaign with its state (done, running, failed with its log, pending), its tags (the grid
    values) and run_key, read from the markers and Snakemake's bookkeeping; works while the campaign runs."""
    import time

    from tcbench.campaign.compose import complete_config
    from tcbench.campaign.config import ConfigError
    from tcbench.campaign.status import campaign_status
    from tcbench.reporting.console import make_console, status_table

    import contextlib

    raw = _load_configfile(configfile) or {}
    directory = _project(directory, configfile, raw).folder
    if configfile is None:  # the project's default config, whichever folder the command started in
        configfile = directory / "config" / "config.yaml"
        if not configfile.is_file():
            fail(f"--configfile: no {configfile}; give the campaign's config (the one given to snakemake --configfile)")
        raw = _load_configfile(configfile)
    try:
        with contextlib.chdir(directory):
            config = complete_config(raw)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        fail(exc)
    shown = set(states) or ({"done", "running", "failed", "pending"} if show_all else {"running", "failed", "pending"})
    if as_json:
        for run in campaign_status(config, directory).runs:
            if run.state in shown:
                click.echo(json.dumps({**dataclasses.asdict(run), "log": str(run.log)}, default=str))
        return
    console = make_console()
    if not watch:
        console.print(status_table(config["campaign_id"], campaign_status(config, directory), shown))
        return
    from rich.live import Live

    with Live(console=console, auto_refresh=False) as live:
        while True:
            current = campaign_status(config, directory)
            live.update(status_table(config["campaign_id"], current, shown), refresh=True)
            if current.finished:
                break
            time.sleep(interval)


@campaign.command("plots")
@click.option("--campaign-id", required=True, help="Campaign label used in titles.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder of accuracy.png and confusion_<context>.png.")
@click.option("--summary-csv", "summary_csvs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Summary CSV to also write as <output-dir>/<name>.html (repeatable).")
@click.argument("markers", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def plots(campaign_id: str, output_dir: Path, summary_csvs: tuple[Path, ...], markers: tuple[Path, ...]) -> None:
    """Accuracy (mean, ci95) per augmentation and dim per test context, and confusion matrices averaged over runs."""
    from tcbench.reporting.plots import campaign_figures, summary_html

    for csv in summary_csvs:
        click.echo(f"wrote {summary_html(csv, output_dir / (csv.stem + '.html'))}")
    from tcbench.reporting.runs_table import runs_long_table
    from tcbench.tracking.marker import read_marker

    loaded = [read_marker(m) for m in markers]
    long = runs_long_table(loaded, _campaign_labels(campaign_id, len(loaded)))
    for path in campaign_figures(long, [m.parent for m in markers], [m["hparams"] for m in loaded], output_dir):
        click.echo(f"wrote {path}")


@campaign.command("aim-template")
@click.option("--path", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where to create the empty AIM repo that every run copies.")
def aim_template(path: Path) -> None:
    """Create an empty, fully migrated AIM repo once, so runs copy it instead of paying ~2 s of migrations each."""
    from tcbench.tracking.aim_repo import ensure_template_repo

    click.echo(f"AIM template repo ready at {ensure_template_repo(path)}")


def _run_tags(marker: dict[str, Any]) -> list[str]:
    """The AIM tags of a finished run (method, dataset, grid values), from its marker's parameters."""
    from tcbench.methods import get_method

    return get_method(marker["method"]).tags(marker["params"])


@campaign.command("merge")
@click.option("--campaign-id", required=True, help="Label written into every merged run (hparams.campaign_id, tag campaign:<id>).")
@click.option("--dst", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Campaign AIM repo to (re)build; replaced atomically only once complete.")
@click.option("--experiment", default=None,
              help="AIM experiment of the merged runs [default: the one each run was written with, its method's].")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a JSON merge report here (the Snakemake rule's output).")
@click.argument("markers", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def merge(campaign_id: str, dst: Path, experiment: str | None, report: Path | None, markers: tuple[Path, ...]) -> None:
    """Merge the runs of MARKERS (results/runs/<key>/marker.json, in grid order) into one AIM repo, labelled and
    tagged with the campaign (a run is shared by every campaign that selects it; labels are applied here)."""
    from tcbench.tracking.campaign_repo import MergeSource, merge_run_repos
    from tcbench.tracking.marker import MarkerError, read_marker

    try:
        loaded = [read_marker(m) for m in markers]
        tags = [[*_run_tags(marker), f"campaign:{campaign_id}"] for marker in loaded]
    except (MarkerError, ValueError) as exc:
        fail(exc)
    labels = _campaign_labels(campaign_id, len(markers))
    sources = [MergeSource(run_dir=m.parent, labels=lab, tags=tag, experiment=experiment or None)
               for m, lab, tag in zip(markers, labels, tags)]
    result = merge_run_repos(sources, dst)
    if report is not None:
        from tcbench.atomic import atomic_write

        payload = json.dumps(dataclasses.asdict(result), indent=1, sort_keys=True, default=str)
        atomic_write(report, lambda tmp: tmp.write_text(payload + "\n"))
    click.echo(f"merged {len(markers)} runs into {dst}")


@campaign.command("summary")
@click.option("--campaign-id", required=True, help="Campaign label used for grouping and titles.")
@click.option("--experiment", default=None, help="AIM experiment of the campaign's runs [default: each run's own].")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder of the runsinfo_*.parquet and summary_*.csv files.")
@click.option("--metrics", default="acc,f1", help="Comma-separated metrics to aggregate (acc, f1, precision, recall, loss).")
@click.option("--precision", type=click.IntRange(min=0), default=2, help="Digits shown on the console.")
@click.option("--quiet", is_flag=True, help="Write the files without printing the tables.")
@click.argument("markers", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def summary(campaign_id: str, experiment: str | None, output_dir: Path, metrics: str, precision: int, quiet: bool,
            markers: tuple[Path, ...]) -> None:
    """Aggregate MARKERS (in grid order) into the original's per-flowpic_dim summary files; print them."""
    from tcbench.reporting.console import print_summary_files
    from tcbench.reporting.runs_table import runs_long_table, setting_labels
    from tcbench.reporting.summary import write_campaign_summary
    from tcbench.tracking.marker import MarkerError, read_marker

    try:
        loaded = [read_marker(m) for m in markers]
    except MarkerError as exc:
        fail(exc)
    settings, notes = setting_labels(loaded)  # runs on other data or splits are grouped apart, and it is said
    labels = [{**label, **setting, **({"experiment": experiment} if experiment else {})}
              for label, setting in zip(_campaign_labels(campaign_id, len(loaded)), settings)]
    long = runs_long_table(loaded, labels)
    written = write_campaign_summary(long, output_dir, metrics=[m.strip() for m in metrics.split(",") if m.strip()])
    click.echo(f"campaign_id: {campaign_id}  runs: {len(loaded)}")
    for note in notes:
        click.echo(note)
    if not quiet:
        print_summary_files([p for p in written if p.suffix == ".csv"], precision=precision)
    for path in written:
        click.echo(f"wrote {path}")
