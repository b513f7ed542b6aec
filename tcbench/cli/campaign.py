"""``tcbench campaign``: the downstream steps of a campaign (merge the per-run AIM repos, summarise)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from tcbench.cli.config_option import apply_config, config_option
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

    def list_commands(self, ctx: click.Context) -> list[str]:
        from tcbench.cli.campaign_commands import campaign_command_names

        return sorted({*super().list_commands(ctx), *campaign_command_names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The method campaign commands are built from the registry when first asked for (``tcbench --help``
        imports no method)."""
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        from tcbench.cli.campaign_commands import campaign_command_names, make_command

        if cmd_name not in campaign_command_names():
            return None
        command = make_command(cmd_name, _plan_or_run_command, [_cores_option, _profile_option, _directory_option])
        self.add_command(command)
        return command

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


def _load_configfile(path: Path | None) -> dict[str, Any] | None:
    """A campaign config file, or a one-line error naming it (a YAML syntax error with its line and column)."""
    from tcbench.campaign.config import ConfigError, load_config_file

    if path is None:
        return None
    try:
        return load_config_file(path)
    except ConfigError as exc:
        fail(exc)


def _plan_or_run(config: dict[str, Any], dry_run: bool, cores: str, profile: str | None, project: Any,
                 configfile: Path | None) -> None:
    """Validate and print the composition; unless ``dry_run``, save the config and run Snakemake on it, in the
    project folder (``project``: relative paths of the config resolve there, as for Snakemake itself)."""
    import contextlib

    import yaml

    from tcbench.campaign.compose import complete_config, composition, resolve_profile
    from tcbench.campaign.config import ConfigError, check_paths
    from tcbench.campaign.folder import ProjectError, campaign_folder, check_project
    from tcbench.runs.faults import io_failure

    folder = project.folder
    try:
        profile_dir = resolve_profile(profile) if profile else None
        with contextlib.chdir(folder):
            check_paths(config)  # a results_dir that is a file, or read-only: one line per path, before anything
            complete_config(config)
            check_project(folder, [configfile] if configfile is not None else [], config)
            fetch_line = _fetch_first_line(config)
            text = fetch_line or composition(config)
            # Fetch first: no run can be named (nor priced) before the data exists.
            projection = None if fetch_line else _projection([config], None, cores)
    except (ConfigError, ProjectError, ValueError, FileNotFoundError) as exc:
        fail(exc)
    click.echo(text)
    if projection is not None:
        click.echo("\n".join(projection.lines()[-3 if projection.gpu_seconds is None else -4:]))
    if dry_run:
        return
    out = campaign_folder(folder / config["results_dir"], config["campaign_id"]) / "campaign_config.yaml"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(config, sort_keys=False))
    except OSError as exc:
        fail(f"cannot write {out}: {io_failure(exc) or exc}", 1)
    sys.exit(_run_snakemake(folder, out, cores, profile_dir, f"campaign {config['campaign_id']}",
                            _run_costs([config], folder) if projection is not None else {}))


def _run_snakemake(folder: Path, configfile: Path, cores: str, profile_dir: Path | None, label: str,
                   costs: dict[str, float], config_entries: tuple[str, ...] = ()) -> int:
    """Run Snakemake on ``configfile`` (with ``config_entries``, its --config) in ``folder`` under the campaign lock,
    with the progress line (its ETA from ``costs``, the projected seconds of each job left); its exit status."""
    from tcbench.campaign.compose import SNAKEFILE
    from tcbench.campaign.lock import CampaignBusy, campaign_lock
    from tcbench.campaign.progress import run_with_progress
    from tcbench.reporting.console import make_console

    # --rerun-incomplete: after a kill, a job Snakemake had started is re-run (its outputs are atomic, never partial).
    base = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(folder), "--configfile", str(configfile),
            *(["--config", *config_entries] if config_entries else [])]
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
            return run_with_progress(cmd, label, make_console(), costs, _core_count(cores))
    except CampaignBusy as exc:
        fail(exc)


def _fetch_first_line(config: dict[str, Any]) -> str | None:
    """With ``dataset.fetch: true`` and the dataset missing, the runs (whose keys hold the data's sha256) are named
    only once Snakemake fetched and imported it: what the plan says instead of the composition."""
    from tcbench.campaign.fetch_first import announcement
    from tcbench.data.sources import dataset_paths, source_of

    paths = dataset_paths(config)
    return announcement(config, paths.root) if source_of(config).fetch_first(config, paths) else None


def _core_count(cores: str) -> int:
    """Snakemake's --cores as a number (``all``: this machine's)."""
    import os

    return int(cores) if str(cores).isdigit() else (os.cpu_count() or 1)


def _projection(campaigns: list[dict[str, Any]], tables: dict[str, list[str]] | None, cores: str) -> Any:
    """The cost model's price of prepared campaigns for ``--cores`` (tcbench.campaign.cost)."""
    from tcbench.campaign.cost import project

    return project(campaigns, tables, _core_count(cores))


def _run_costs(campaigns: list[dict[str, Any]], folder: Path) -> dict[str, float]:
    """Projected seconds of every run and pre-step of the campaigns, by key, for the progress line's ETA."""
    import contextlib

    from tcbench.campaign.cost import load_model, run_jobs
    from tcbench.campaign.grid import campaign_runs

    with contextlib.chdir(folder):
        device = campaigns[0]["resources"]["device"]
        model = load_model(Path(campaigns[0]["results_dir"]), device)
        runs = {spec.run_key: spec.params for cfg in campaigns for spec in campaign_runs(cfg)}
        return {job.key: job.seconds
                for job in run_jobs(runs.items(), model, device, results=Path(campaigns[0]["results_dir"]))}


def _plan_or_run_command(config: dict[str, Any], configfile: Path | None, dry_run: bool, cores: str,
                         profile: str | None, directory: Path | None) -> None:
    _plan_or_run(config, dry_run, cores, profile, _project(directory, configfile, config), configfile)


@campaign.command("status")
@click.option("--configfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The campaign's config (the one given to snakemake --configfile), or a paper config "
                   "(config/paper.yaml: every campaign of the plan) [default: config/config.yaml of the project].")
@click.option("--directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The campaign's project folder (Snakemake's -d / --directory; relative results_dir are resolved "
                   "there) [default: the current folder when it is a tcbench project, else the config's project, "
                   "else the project holding the Snakefile, as for snakemake and the campaign commands].")
@click.option("--state", "states", multiple=True, type=click.Choice(["done", "running", "failed", "pending"]),
              help="Only list runs in this state (repeatable) [default: every state but done; for a paper config "
                   "running and failed, its pending runs being thousands].")
@click.option("--all", "show_all", is_flag=True, help="List done runs too.")
@click.option("--watch", is_flag=True, help="Refresh until every run is done (Ctrl-C to stop watching).")
@click.option("--interval", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="Seconds between refreshes with --watch.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per run instead of the table.")
@config_option
def status(configfile: Path | None, directory: Path | None, states: tuple[str, ...], show_all: bool, watch: bool,
           interval: float, as_json: bool, config_entries: tuple[str, ...]) -> None:
    """Every run of a campaign with its state (done, running, failed with its log, pending), its tags (the grid
    values) and run_key, read from the markers and Snakemake's bookkeeping; works while the campaign runs. With a
    paper config: each published table's campaigns with their counts, the plan's distinct runs and its ETA, then
    the distinct runs in the listed states with the campaigns that select them."""
    import contextlib
    import time

    from tcbench.campaign.compose import SCHEMA, SNAKEFILE
    from tcbench.campaign.config import ConfigError
    from tcbench.campaign.paper import is_paper_config, load_paper, single_plan
    from tcbench.campaign.status import STATES, plan_status
    from tcbench.reporting.console import make_console, plan_status_tables, status_line, status_table

    raw = _load_configfile(configfile) or {}
    directory = _project(directory, configfile, raw).folder
    if configfile is None:  # the project's default config, whichever folder the command started in
        configfile = directory / "config" / "config.yaml"
        if not configfile.is_file():
            fail(f"--configfile: no {configfile}; give the campaign's config (the one given to snakemake --configfile)")
        raw = _load_configfile(configfile)
    raw = apply_config(raw or {}, config_entries)
    paper = is_paper_config(raw)
    try:
        with contextlib.chdir(directory):
            plan = (load_paper(raw, SCHEMA, [directory, configfile.resolve().parent.parent, SNAKEFILE.parent]) if paper
                    else single_plan(raw, SCHEMA))
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        fail(exc)
    shown = set(states) or (set(STATES) if show_all else {"running", "failed"} if paper else set(STATES) - {"done"})

    campaign_id = plan.campaigns[0]["campaign_id"]
    name = f"paper {plan.name}" if paper else f"campaign {campaign_id}"

    def shown_status(current: Any) -> Any:
        """The status the command reports: the plan's distinct runs for a paper, else the campaign's runs."""
        return current.total if paper else current.campaigns[campaign_id]

    def render(current: Any) -> Any:
        return plan_status_tables(plan, current, shown) if paper else status_table(campaign_id, shown_status(current), shown)

    if as_json:
        current = plan_status(plan.campaigns, directory)
        for run in shown_status(current).runs:
            if run.state in shown:
                record = {**dataclasses.asdict(run), "log": str(run.log)}
                click.echo(json.dumps({**record, "campaigns": current.owners[run.run_key]} if paper else record,
                                      default=str))
        return
    console = make_console()
    if not watch:
        console.print(render(plan_status(plan.campaigns, directory)))
        return
    if not console.is_terminal:  # a log file or a batch job: one line per refresh, which a live table cannot give
        while True:
            current = plan_status(plan.campaigns, directory)
            click.echo(status_line(name, shown_status(current), time.time()))
            if current.finished:
                return
            time.sleep(interval)
    from rich.live import Live

    with Live(console=console, auto_refresh=False) as live:
        while True:
            current = plan_status(plan.campaigns, directory)
            live.update(render(current), refresh=True)
            if current.finished:
                break
            time.sleep(interval)


@campaign.command("paper")
@click.option("--configfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The paper config: campaign config files per published table, and what they share "
                   "[default: config/paper.yaml of the project].")
@click.option("--dry-run", is_flag=True, help="Print the plan (distinct runs per table and in total, skipped "
              "campaigns, projected wall time for --cores) and stop.")
@_cores_option
@_profile_option
@_directory_option
@config_option
def paper(configfile: Path | None, dry_run: bool, cores: str, profile: str | None, directory: Path | None,
          config_entries: tuple[str, ...]) -> None:
    """Every campaign of the paper in one Snakemake plan: each distinct run trains once, each campaign keeps its
    outputs and report; campaigns whose imported dataset is missing are skipped with the command that imports it.
    The dry run prints the distinct runs per table and in total and the projected wall time (cost model:
    calibrated from this machine's finished runs when there are enough, else the shipped defaults)."""
    import contextlib

    from tcbench.campaign.compose import SCHEMA, SNAKEFILE, resolve_profile
    from tcbench.campaign.config import ConfigError, check_paths
    from tcbench.campaign.folder import ProjectError, check_project
    from tcbench.campaign.paper import is_paper_config, load_paper

    raw = _load_configfile(configfile) or {}
    project = _project(directory, configfile, raw)
    folder = project.folder
    if configfile is None:
        configfile = folder / "config" / "paper.yaml"
        if not configfile.is_file():
            configfile = SNAKEFILE.parent / "config" / "paper.yaml"
        raw = _load_configfile(configfile)
    raw = apply_config(raw or {}, config_entries)
    if not is_paper_config(raw):
        fail(f"--configfile: {configfile} has no `campaigns:`; a paper config names campaign config files per table "
             "(config/paper.yaml); run a single campaign with snakemake --configfile or its campaign command")
    try:
        profile_dir = resolve_profile(profile) if profile else None
        with contextlib.chdir(folder):
            check_paths(raw)
            plan = load_paper(raw, SCHEMA, [folder, configfile.resolve().parent.parent, SNAKEFILE.parent])
            check_project(folder, [configfile], raw)
            projection = _projection(plan.campaigns, plan.tables, cores)
    except (ConfigError, ProjectError, ValueError, FileNotFoundError) as exc:
        fail(exc)
    click.echo(f"paper {plan.name}: {len(plan.campaigns)} campaigns planned, {len(plan.skipped)} skipped ({configfile})")
    click.echo("\n".join(projection.lines()))
    for skipped in plan.skipped:
        click.echo(f"skipped: {skipped.campaign_id} ({skipped.file}): {skipped.reason}")
    if dry_run:
        return
    sys.exit(_run_snakemake(folder, configfile, cores, profile_dir, f"paper {plan.name}",
                            _run_costs(plan.campaigns, folder), config_entries))


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


@campaign.command("write-manifest")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The campaign folder's campaign.json.")
@click.argument("record_json")
def write_manifest_command(output: Path, record_json: str) -> None:
    """Write RECORD_JSON (the campaign id, its settings and run keys, as the workflow plans them) to the campaign
    folder's manifest, atomically: the first step of a campaign, which later plans check the folder against."""
    from tcbench.campaign.folder import write_manifest

    try:
        record = json.loads(record_json)
    except json.JSONDecodeError as exc:
        fail(f"RECORD_JSON: not JSON ({exc})")
    if not isinstance(record, dict) or not {"campaign_id", "settings", "run_keys"} <= set(record):
        fail("RECORD_JSON: a JSON object with campaign_id, settings and run_keys")
    click.echo(f"wrote {write_manifest(output, record)}")


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
    """Aggregate MARKERS (in grid order) into the original's summary files (one per value of the parameter the
    method splits its report by, e.g. the flowpic dim); print them."""
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
