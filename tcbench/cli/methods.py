"""``tcbench methods``: the registered training methods and their declared parameters (built-ins and plugins)."""

from __future__ import annotations

import click

from tcbench.cli.errors import fail, plugin_hint


@click.group()
def methods() -> None:
    """The training methods tcbench knows (load plugins with `tcbench --plugin MODULE methods ...`)."""


@methods.command("list")
def list_methods() -> None:
    """Every registered method: name, where it comes from (a plugin file's path, else its module), its grid axes
    and whether it trains on a GPU."""
    from rich import box
    from rich.table import Table

    from tcbench.methods import get_method, method_names
    from tcbench.plugins import plugin_source
    from tcbench.reporting.console import make_console

    table = Table(box=box.SIMPLE_HEAD, header_style="bold")
    for column in ("method", "from", "grid axes", "gpu", "pre-step", "summary"):
        table.add_column(column)
    for name in method_names():
        method = get_method(name)
        axes = ", ".join(a.name + (" (optional)" if a.name in method.optional_axes else "") for a in method.axes)
        pre = method.pre_step.name if method.pre_step else ""
        table.add_row(name, plugin_source(type(method)), axes, "yes" if method.uses_gpu else "no", pre, method.summary)
    make_console().print(table)


@methods.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Every parameter of method NAME: where a config sets it, its type, default and valid values, and whether it
    changes a result (then it is part of the run key) or is a label."""
    from rich import box
    from rich.table import Table

    from tcbench.methods import get_method
    from tcbench.reporting.console import make_console

    try:
        method = get_method(name)
    except ValueError as exc:
        fail(f"{exc}; {plugin_hint(f'methods show {name}')}")
    axes = {a.name for a in method.axes}
    table = Table(title=f"{method.name}: {method.summary}", box=box.SIMPLE_HEAD, header_style="bold")
    for column in ("config key", "option", "type", "default", "valid values", "run key", "help"):
        table.add_column(column)
    for param in method.params():
        where = [f"grid.{param.name}"] if param.name in axes else []
        if param in method.settings:
            where.append(f"{param.section or method.section}.{param.name}")
        table.add_row(", ".join(where), param.option_name, param.kind.__name__, str(param.default), param.describe_valid(),
                      "yes" if param.result else "no (label)", param.help)
    make_console().print(table)
