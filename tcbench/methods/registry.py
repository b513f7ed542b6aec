"""The registry of methods (and of their pre-steps): built-ins, plugin modules named by a config, and installed
packages exposing the ``tcbench.methods`` entry-point group.

Plugin modules register what they define when imported (``@register`` on a :class:`~tcbench.contract.Method`
subclass, ``tcbench.augment.register_augmentation`` on an augmentation), so one module can add a method, an
augmentation or both. A config names modules under ``plugins:`` (a dotted import path, or a ``.py`` file path
relative to the working directory); the workflow exports them to its jobs as ``TCBENCH_PLUGINS`` so every job
process loads the same ones. Looking a name up never imports torch or any heavy library: methods import what they
need inside ``execute``.
"""

from __future__ import annotations

import importlib

from tcbench.contract import Method, Param, _param_index
from tcbench.methods.params import LABELS
from tcbench.plugins import (
    PluginError,
    Registry,
    declared_at,
    export_plugins,
    load_plugins,
    package_modules,
    plugin_source,
    plugins_from_env,
    variable_of,
)

ENTRY_POINT_GROUP = "tcbench.methods"
# The built-in methods in the original's order (the order of `method:`'s valid values); any other module of this
# package is a method too and follows them, so an in-tree method is one new module here (docs/extending.md).
_BUILTIN_MODULES = ("tcbench.methods.supervised", "tcbench.methods.xgboost_baseline", "tcbench.methods.simclr")
_INFRASTRUCTURE = frozenset({"contract", "params", "registry", "schema"})

#: Parameter names tcbench gives itself: the keys of every run's identity besides its parameters, the data and
#: pre-step options of every `tcbench run` command, and the labels. A method parameter of one of these names would
#: be one config key, option or run-key entry meaning two things.
RESERVED_NAMES = frozenset({"method", "dataset", "splits", "dataset_minpkts", "n_splits", "samples_per_class",
                            "pretrain_dir", *(label.name for label in LABELS)})
#: Class attributes every method declares (the contract gives them no default).
_REQUIRED = ("summary", "section", "axes", "settings")

__all__ = ["ENTRY_POINT_GROUP", "PluginError", "RESERVED_NAMES", "builtin_modules", "check_declarations",
           "export_plugins", "get_method", "load_plugins", "method_names", "methods", "plugin_source", "register"]


def builtin_modules() -> list[str]:
    """The modules of this package that define methods: the original's three first, then the others by name."""
    return package_modules("tcbench.methods", _BUILTIN_MODULES, _INFRASTRUCTURE)


def _import_builtins() -> None:
    for module in builtin_modules():
        importlib.import_module(module)


#: Method (and pre-step) classes by name; instances are made on first use (:func:`get_method`).
REGISTRY: Registry[type[Method]] = Registry("method", _import_builtins)
_INSTANCES: dict[str, Method] = {}
_entry_points_loaded = [False]


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` (and its pre-step) known by name. Registering the same class again is a
    no-op; another class under a taken name is an error telling the plugin to rename its method.

    The declarations are checked here, when the plugin is imported, rather than by the first job that runs it: a
    missing declaration, a parameter declared twice or under a name tcbench uses itself, and a default outside the
    parameter's own valid values are one-line errors naming the plugin's file, line and the ``Param``.
    """
    for item in (cls, cls.pre_step) if cls.pre_step is not None else (cls,):
        name = getattr(item, "name", None)
        if not name or not isinstance(name, str):
            raise PluginError(f"{declared_at(item)}: method class {item.__qualname__} needs a `name` (a string)")
        check_declarations(item)
        REGISTRY.add(name, item, item)
        _INSTANCES.pop(name, None)
        item.origin = item.__module__
    return cls


def check_declarations(cls: type[Method]) -> None:
    """PluginError (one line: file, line, the ``Param``, what is wrong) when ``cls`` declares what no run can use."""
    missing = [attr for attr in _REQUIRED if not hasattr(cls, attr)]
    if missing:
        raise PluginError(f"{declared_at(cls)}: method {cls.name!r} (class {cls.__qualname__}) does not declare "
                          f"{missing}; a method declares {['name', *_REQUIRED]}")
    for attr in ("axes", "settings"):
        declared = getattr(cls, attr)
        if not isinstance(declared, (tuple, list)) or not all(isinstance(p, Param) for p in declared):
            raise PluginError(f"{declared_at(cls)}: method {cls.name!r}: `{attr}` must be a tuple of "
                              f"tcbench.methods.Param, got {declared!r}")
    try:
        params = _param_index(cls)
    except ValueError as exc:
        raise PluginError(f"{declared_at(cls)}: {exc}") from None
    for param in params.values():
        if param.name in RESERVED_NAMES:
            raise PluginError(f"{declared_at(cls, param)}: {_param_label(cls, param)} of method {cls.name!r}: the name "
                              f"{param.name!r} is tcbench's own (reserved: {sorted(RESERVED_NAMES)}); rename the "
                              "parameter")
        problem = param.default_problem()
        if problem is not None:
            raise PluginError(f"{declared_at(cls, param)}: {_param_label(cls, param)} of method {cls.name!r}: "
                              f"{problem}")
    unknown = undeclared_reads(cls)
    if unknown:
        line, name = unknown[0]
        file = declared_at(cls).rsplit(":", 1)[0]
        raise PluginError(f"{file}:{line}: method {cls.name!r} reads parameter {name!r}, which it does not declare; "
                          f"its parameters: {sorted(p.name for p in _param_index(cls).values())}")


def _param_label(cls: type, param: Param) -> str:
    variable = variable_of(cls, param)
    return f"Param {variable} ({param.name!r})" if variable else f"Param {param.name!r}"


def _load_entry_points() -> None:
    """Import every module an installed package exposes under ``tcbench.methods`` (once per process)."""
    if _entry_points_loaded[0]:
        return
    _entry_points_loaded[0] = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except PluginError as exc:  # a declaration mistake: its line already names the file
            raise PluginError(f"entry point {entry.name} = {entry.value} (group {ENTRY_POINT_GROUP}): {exc}") from None
        except Exception as exc:  # a broken third-party package must say which one, not crash with a traceback
            raise PluginError(f"entry point {entry.name} = {entry.value} (group {ENTRY_POINT_GROUP}) cannot be "
                              f"loaded: {type(exc).__name__}: {exc}") from exc
        if isinstance(loaded, type) and issubclass(loaded, Method):
            register(loaded)


def _ready() -> None:
    # Called for every lookup (planning a paper asks tens of thousands): plugins only when some are exported.
    REGISTRY.ensure_builtins()
    specs = plugins_from_env()
    if specs:
        load_plugins(specs)


def get_method(name: str) -> Method:
    """The registered method (or pre-step) called ``name``; ValueError listing the valid names otherwise."""
    _ready()
    if name not in REGISTRY:
        _load_entry_points()
    if name not in REGISTRY:
        raise ValueError(f"method {name!r} is unknown; valid values: {method_names()} (a plugin method must be "
                         "named under `plugins:` in the config, or installed with a `tcbench.methods` entry point)")
    if name not in _INSTANCES:
        _INSTANCES[name] = REGISTRY.get(name)()
    return _INSTANCES[name]


def method_names(include_steps: bool = False) -> list[str]:
    """Names of the campaign methods in registration order (built-ins first); pre-steps too when asked."""
    _ready()
    _load_entry_points()
    return [name for name, cls in REGISTRY.items() if include_steps or not cls.step_only]


def methods() -> list[Method]:
    return [get_method(name) for name in method_names()]


#: Keys of a run's parameters besides the method's own (the run's identity: its method, data and splits).
_IDENTITY_KEYS = frozenset({"method", "dataset", "splits"})
#: Names a method's code reads a run's parameters through.
_PARAMS_NAMES = frozenset({"p", "params"})


def undeclared_reads(cls: type[Method]) -> list[tuple[int, str]]:
    """(line, name) of every parameter the class's code reads by a string key (``p["name"]``,
    ``run.params["name"]``, ``params.get("name")``) that the method does not declare: a typo found when the
    method registers (at planning), not by a job in the middle of a campaign."""
    import ast
    import inspect
    import textwrap

    try:
        source, first = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return []
    declared = {p.name for p in _param_index(cls).values()} | _IDENTITY_KEYS
    found = []
    for node in ast.walk(ast.parse(textwrap.dedent("".join(source)))):
        target, key = None, None
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            target, key = node.value, node.slice.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and node.args and isinstance(node.args[0], ast.Constant)):
            target, key = node.func.value, node.args[0].value
        reads_params = (isinstance(target, ast.Name) and target.id in _PARAMS_NAMES) or (
            isinstance(target, ast.Attribute) and target.attr == "params")
        if reads_params and isinstance(key, str) and key not in declared:
            found.append((first + node.lineno - 1, key))
    return found
