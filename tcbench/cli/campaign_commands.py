"""``tcbench campaign <command>``: the original's campaign commands, built from the methods' declarations.

Each command name a method declares in ``commands`` (``augment-at-loading``: the CNN and XGBoost;
``contralearn-and-finetune``: SimCLR) becomes one command. Its options come from the parameters of those methods:

- a grid axis: a comma list, ``Param.campaign_option`` (default ``--<name>s``), its values put in the grid when
  the campaign's method varies that axis;
- a setting: ``Param.campaign_option`` or its ``tcbench run`` option (booleans as a flag that turns the default
  off, or on), put in the config section the parameter is read from. Several parameters may share one option (the
  original's ``--batch-size`` sets both SimCLR batch sizes).

So a method with a campaign command of its own gets its options without an edit here. Values are checked against
their declarations when the config is validated, with the same one-line errors as a config file's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from tcbench.cli.errors import fail
from tcbench.contract import Method, Param, names

#: Values a boolean grid axis accepts on the command line (the original's --dropout enabled,disabled).
BOOL_VALUES = {"enabled": True, "disabled": False, "true": True, "false": False}


@dataclass
class CampaignOption:
    """One command-line option and the parameters it sets."""

    option: str
    params: list[Param]
    axis: bool

    @property
    def dest(self) -> str:
        return self.option.removeprefix("--").replace("-", "_")


def command_methods(command: str) -> list[Method]:
    from tcbench.methods import methods

    return [m for m in methods() if command in m.commands]


def campaign_command_names() -> list[str]:
    from tcbench.methods import methods

    return list(dict.fromkeys(c for m in methods() for c in m.commands))


def axis_option(param: Param) -> str:
    return param.campaign_option or f"--{param.name.replace('_', '-')}s"


def setting_option(param: Param) -> str:
    if param.kind is bool:  # a flag that turns the default off (or on)
        return param.off_option_name if param.default else param.option_name
    return param.campaign_option or param.option_name


def campaign_options(command: str) -> list[CampaignOption]:
    """The options of one command, in the methods' declaration order (axes first)."""
    found: dict[str, CampaignOption] = {}
    methods = command_methods(command)
    for method in methods:
        for param in method.axes:
            option = found.setdefault(axis_option(param), CampaignOption(axis_option(param), [], True))
            if param not in option.params:
                option.params.append(param)
    for method in methods:
        for param in method.settings:
            if param in method.axes:  # an optional axis: its list option sets it
                continue
            name = setting_option(param)
            if name in found and found[name].axis:
                continue  # the axis's list option sets it (a setting that a grid may vary)
            option = found.setdefault(name, CampaignOption(name, [], False))
            if param not in option.params:
                option.params.append(param)
    return list(found.values())


def _parse_list(param: Param) -> Callable[[click.Context, click.Parameter, str | None], list[Any] | None]:
    def parse(ctx: click.Context, option: click.Parameter, value: str | None) -> list[Any] | None:
        if value is None:
            return None
        items = names(value)
        if not items:
            raise click.BadParameter(f"{value!r}: an empty list; valid values: a comma list of "
                                     f"{param.describe_valid()}")
        if param.kind is bool:
            bad = [v for v in items if v.lower() not in BOOL_VALUES]
            if bad:
                raise click.BadParameter(f"{value!r}: {bad} not valid; valid values: a comma list of "
                                         f"{list(BOOL_VALUES)[:2]}")
            return [BOOL_VALUES[v.lower()] for v in items]
        out = []
        for item in items:
            try:
                out.append(param.cast(item))
            except (TypeError, ValueError):
                kind = {int: "integers", float: "numbers"}.get(param.kind, "names")
                bad = [v for v in items if not _castable(param, v)]
                raise click.BadParameter(f"{value!r}: {bad} not {kind}; valid values: a comma list of {kind}") from None
        return out

    return parse


def _castable(param: Param, text: str) -> bool:
    try:
        param.cast(text)
    except (TypeError, ValueError):
        return False
    return True


def _help(option: CampaignOption, methods: list[Method]) -> str:
    param = option.params[0]
    owners = [m.name for m in methods if any(p in m.params() for p in option.params)]
    whose = "" if len(owners) == len(methods) else f" ({', '.join(owners)})"
    if option.axis:
        grids = [m.campaign_defaults({p.name: p.default for p in m.settings}) for m in methods]
        defaults = next((grid[param.name] for grid in grids if param.name in grid), None)
        shown = ",".join("enabled" if v is True else "disabled" if v is False else str(v) for v in defaults) \
            if defaults else str(param.default)
        return f"{param.help} Comma list{whose} [default: {shown}]."
    if param.kind is bool:
        return f"{param.help}{whose} [flag: {'off' if param.default else 'on'}; default: {param.default}]."
    shown = ",".join(param.default) if isinstance(param.default, list) else param.default
    return f"{param.help}{whose} [default: {shown}]."


def _click_option(option: CampaignOption, methods: list[Method]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    param = option.params[0]
    help_text = _help(option, methods)
    if option.axis or param.kind is list:
        return click.option(option.option, option.dest, default=None, callback=_parse_list(param), help=help_text)
    if param.kind is bool:
        return click.option(option.option, option.dest, is_flag=True, default=None, flag_value=not param.default,
                            help=help_text)
    kind = {int: int, float: float, str: str}[param.kind]
    return click.option(option.option, option.dest, type=kind, default=None, help=help_text)


def apply_options(config: dict[str, Any], values: dict[str, Any], options: list[CampaignOption], command: str) -> None:
    """Overlay the command-line values on the config: the method's default grid of this command, the axes given,
    then the settings given (an error naming the option when the campaign's method has no such setting)."""
    method = _campaign_method(config, command)
    settings = {p.name: (config.get(p.section or method.section) or {}).get(p.name, p.default) for p in method.settings}
    given_settings = [(o, values[o.dest]) for o in options if not o.axis and values.get(o.dest) is not None]
    for option, value in given_settings:  # settings first: they can change the grid's axes (XGBoost's input)
        own = [p for p in option.params if p in method.params()]
        if not own:
            having = [m.name for m in command_methods(command) if any(p in m.params() for p in option.params)]
            fail(f"{option.option}: method {method.name} has no such setting; methods that have it: {having} "
                 "(--method)")
        for param in own:
            config.setdefault(param.section or method.section, {})[param.name] = value
            settings[param.name] = value
    grid = config.setdefault("grid", {})
    for axis, axis_values in method.campaign_defaults(settings).items():
        grid.setdefault(axis, axis_values)
    varied = {a.name for a in method.grid_axes(settings)}
    for option in options:
        if option.axis and values.get(option.dest) is not None:
            for param in option.params:
                if param.name in varied:
                    grid[param.name] = values[option.dest]
    limit = values.get("max_train_splits")
    if limit is not None and limit > 0 and "split_index" in grid:
        grid["split_index"] = grid["split_index"][:limit]


def _campaign_method(config: dict[str, Any], command: str) -> Method:
    """The config's method (set to the command's first when the config names none); a one-line error if unknown."""
    from tcbench.methods import get_method

    if not config.get("method"):
        config["method"] = command_methods(command)[0].name
    try:
        method = get_method(config["method"])
    except ValueError as exc:
        fail(exc)
    if command not in method.commands:
        fail(f"method: {method.name!r} has no `tcbench campaign {command}`; valid values: "
             f"{[m.name for m in command_methods(command)]}")
    return method


def make_command(command: str, run: Callable[..., None],
                 shared: list[Callable[[Callable[..., Any]], Callable[..., Any]]]) -> click.Command:
    """The click command ``tcbench campaign <command>``; ``run(config, configfile, dry_run, cores, profile,
    directory)`` plans or runs the campaign; ``shared``: the options every campaign command has (cores, profile,
    project folder)."""
    methods = command_methods(command)
    options = campaign_options(command)
    summaries = " / ".join(dict.fromkeys(m.summary for m in methods))

    def callback(configfile: Path | None, campaign_id: str | None, method: str | None, dry_run: bool, cores: str,
                 profile: str | None, directory: Path | None, **values: Any) -> None:
        from tcbench.campaign.config import ConfigError, load_config_file

        try:
            config = load_config_file(configfile) if configfile is not None else None
        except ConfigError as exc:
            fail(exc)
        config = config or {"campaign_id": command, "dataset": {"name": "ucdavis-icdm19"}}
        if campaign_id:
            config["campaign_id"] = campaign_id
        if method:
            config["method"] = method
        apply_options(config, values, options, command)
        run(config, configfile, dry_run, cores, profile, directory)

    decorators = [
        click.option("--configfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                     help="Start from this campaign config (e.g. config/campaigns/*.yaml); the options below "
                          "override it."),
        click.option("--campaign-id", default=None, help=f"Campaign name [default: from --configfile, else {command}]."),
        click.option("--method", type=click.Choice([m.name for m in methods]), default=None,
                     help=f"The method [default: from --configfile, else {methods[0].name}]."),
        *(_click_option(o, methods) for o in options),
        click.option("--max-train-splits", type=int, default=None, help="Keep only the first N split indexes (-1: all)."),
        click.option("--dry-run", is_flag=True, help="Print the campaign composition and exit."),
        *shared,
    ]
    function = callback
    for decorator in reversed(decorators):
        function = decorator(function)
    return click.command(command, help=f"Plan (--dry-run) or run the {command} campaign, as the original's command, "
                                       f"through Snakemake: {summaries}")(function)
