"""The registry of methods (and of their pre-steps): built-ins, plugin modules named by a config, and installed
packages exposing the ``tcbench.methods`` entry-point group.

Plugin modules register what they define when imported (``@register`` on a :class:`~tcbench.methods.contract.Method`
subclass, ``tcbench.augment.register_augmentation`` on an augmentation), so one module can add a method, an
augmentation or both. A config names modules under ``plugins:`` (a dotted import path, or a ``.py`` file path
relative to the working directory); the workflow exports them to its jobs as ``TCBENCH_PLUGINS`` so every job
process loads the same ones. Looking a name up never imports torch or any heavy library: methods import what they
need inside ``execute``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from tcbench.methods.contract import Method, _param_index
from tcbench.methods.params import LABELS, Param

ENTRY_POINT_GROUP = "tcbench.methods"
PLUGINS_ENV = "TCBENCH_PLUGINS"
# The built-in methods in the original's order (the order of `method:`'s valid values); any other module of this
# package is a method too and follows them, so an in-tree method is one new module here (docs/extending.md).
_BUILTIN_MODULES = ("tcbench.methods.supervised", "tcbench.methods.xgboost_baseline", "tcbench.methods.simclr")
_INFRASTRUCTURE = frozenset({"contract", "params", "registry", "schema"})

# The module name a plugin loaded from a file gets (internal: users know the plugin by its path).
_FILE_MODULE_PREFIX = "tcbench_plugin_"
#: Parameter names tcbench gives itself: the keys of every run's identity besides its parameters, the data and
#: pre-step options of every `tcbench run` command, and the labels. A method parameter of one of these names would
#: be one config key, option or run-key entry meaning two things.
RESERVED_NAMES = frozenset({"method", "dataset", "splits", "dataset_minpkts", "n_splits", "samples_per_class",
                            "pretrain_dir", *(label.name for label in LABELS)})
#: Class attributes every method declares (the contract gives them no default).
_REQUIRED = ("summary", "section", "axes", "settings")

_METHODS: dict[str, type[Method]] = {}
_INSTANCES: dict[str, Method] = {}
_LOADED: set[str] = set()
_state = {"builtins": False, "entry_points": False}


class PluginError(ValueError):
    """A plugin module that cannot be loaded, a declaration no run can use, or a name registered twice."""


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
        known = _METHODS.get(name)
        if known is not None and known is not item and _qualname(known) != _qualname(item):
            raise PluginError(collision_message("method", name, known, item))
        check_declarations(item)
        _METHODS[name] = item
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


def collision_message(kind: str, name: str, known: type, new: type) -> str:
    """Two classes want one name: the line says which plugin must rename (a plugin never displaces a built-in,
    and of two plugins the later one gives way) and where that plugin declares the name."""
    if is_builtin(new) and not is_builtin(known):
        new, known = known, new
    owner = f"{_qualname(known)} (built in)" if is_builtin(known) else describe_class(known)
    return (f"{declared_at(new, attribute='name')}: {kind} name {name!r} is taken by {owner}; rename the plugin's "
            f"{kind} (class {new.__qualname__}: name = {name!r})")


def is_builtin(cls: type) -> bool:
    """Whether ``cls`` is tcbench's own (a module of the tcbench package), not a plugin's."""
    return cls.__module__.split(".")[0] == "tcbench"


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def plugin_source(cls: type) -> str:
    """Where a user finds a registered class: the file of a plugin loaded from a ``.py`` path (the module name such a
    file is imported under is internal), the module of the others (built-ins, dotted plugins, entry points)."""
    if cls.__module__.startswith(_FILE_MODULE_PREFIX):
        return shown_path(_module_file(cls) or cls.__module__)
    return cls.__module__


def describe_class(cls: type) -> str:
    """``module.Class``, or ``Class in path/to/plugin.py`` for a class of a plugin file."""
    if cls.__module__.startswith(_FILE_MODULE_PREFIX):
        return f"{cls.__qualname__} in {plugin_source(cls)}"
    return _qualname(cls)


def declared_at(cls: type, param: Param | None = None, attribute: str | None = None) -> str:
    """``<file>:<line>`` of ``param``'s assignment in the module of ``cls`` (when it is a module variable there), or
    of ``attribute``'s assignment in the class body, else of the ``class`` statement; the file alone when its
    source cannot be read."""
    file = _module_file(cls)
    if file is None:
        return describe_class(cls)
    variable = _variable_of(cls, param) if param is not None else None
    line = None
    if variable is not None:
        try:
            text = Path(file).read_text(errors="replace").splitlines()
        except OSError:
            text = []
        line = _assignment(text, variable, 1)
    if line is None:
        try:
            source, first = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            return shown_path(file)
        line = (_assignment(source, attribute, first) if attribute else None) or next(
            (first + i for i, content in enumerate(source) if content.lstrip().startswith("class ")), first)
    return f"{shown_path(file)}:{line}"


def _assignment(lines: Sequence[str], name: str, first: int) -> int | None:
    """The number of the first line of ``lines`` (numbered from ``first``) that assigns ``name``."""
    pattern = re.compile(rf"\s*{re.escape(name)}\s*(:[^=]*)?=(?!=)")
    return next((first + i for i, content in enumerate(lines) if pattern.match(content)), None)


def _param_label(cls: type, param: Param) -> str:
    variable = _variable_of(cls, param)
    return f"Param {variable} ({param.name!r})" if variable else f"Param {param.name!r}"


def _variable_of(cls: type, param: Param | None) -> str | None:
    """The module-level name ``param`` is bound to in the module of ``cls``, if any."""
    module = sys.modules.get(cls.__module__)
    return next((name for name, value in vars(module).items() if value is param), None) if module else None


def _module_file(cls: type) -> str | None:
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if file is None:
        try:
            file = inspect.getsourcefile(cls)
        except TypeError:
            return None
    return file


def shown_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it (as a user typed it), else absolute."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def builtin_modules() -> list[str]:
    """The modules of this package that define methods: the original's three first, then the others by name."""
    import pkgutil

    import tcbench.methods

    found = [f"tcbench.methods.{m.name}" for m in pkgutil.iter_modules(tcbench.methods.__path__)
             if m.name not in _INFRASTRUCTURE and not m.name.startswith("_")]
    return [*_BUILTIN_MODULES, *sorted(set(found) - set(_BUILTIN_MODULES))]


def _ensure_builtins() -> None:
    if not _state["builtins"]:
        _state["builtins"] = True
        for module in builtin_modules():
            importlib.import_module(module)


def _load_entry_points() -> None:
    """Import every module an installed package exposes under ``tcbench.methods`` (once per process)."""
    if _state["entry_points"]:
        return
    _state["entry_points"] = True
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


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec


def resolve_plugin(spec: str, base_dirs: Sequence[Path] = ()) -> str:
    """A plugin file path made absolute: as given when absolute, else the first existing of the working directory
    and ``base_dirs`` joined with it (the project folder, so a campaign names a plugin of the repository the same
    way from any working directory); dotted module paths are returned as they are."""
    if not _is_file_spec(spec):
        return spec
    given = Path(spec).expanduser()
    candidates = [given] if given.is_absolute() else [Path.cwd() / given, *(Path(b) / given for b in base_dirs)]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate.resolve())
    raise PluginError(f"plugins: {spec}: no such file (looked in {', '.join(str(c.parent) for c in candidates)}); a "
                      "plugin is a dotted module path or a .py file path")


def load_plugins(specs: Iterable[str], base_dirs: Sequence[Path] = ()) -> list[str]:
    """Import plugin modules: dotted import paths or ``.py`` files (see :func:`resolve_plugin`). Returns them as
    imported (files as absolute paths).

    The built-in methods are registered first, so a plugin that takes a built-in's name is the one told to
    rename, whichever command or config loads it."""
    _ensure_builtins()
    loaded = []
    for spec in specs:
        spec = str(spec).strip()
        if spec:
            loaded.append(_import_plugin(resolve_plugin(spec, base_dirs)))
    return loaded


def _import_plugin(spec: str) -> str:
    if spec in _LOADED:
        return spec
    if _is_file_spec(spec):
        path = Path(spec)
        module_name = f"{_FILE_MODULE_PREFIX}{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
        if module_name not in sys.modules:
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            try:
                module_spec.loader.exec_module(module)
            except PluginError as exc:  # a declaration mistake: its line names the file, line and what to change
                del sys.modules[module_name]
                raise PluginError(f"plugins: {exc}") from None
            except Exception as exc:
                del sys.modules[module_name]
                raise PluginError(f"plugins: {spec} fails to import: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            importlib.import_module(spec)
        except PluginError as exc:
            raise PluginError(f"plugins: {exc}") from None
        except ImportError as exc:
            raise PluginError(f"plugins: {spec!r} cannot be imported ({exc}); give a dotted module path on the "
                              "Python path or a .py file path") from exc
        except Exception as exc:
            raise PluginError(f"plugins: {spec} fails to import: {type(exc).__name__}: {exc}") from exc
    _LOADED.add(spec)
    return spec


def plugins_from_env() -> list[str]:
    """Plugins the workflow (or the user) exported to this process."""
    return [p for p in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if p.strip()]


def export_plugins(specs: Iterable[str]) -> None:
    """Make child processes (the workflow's jobs) load these plugins too (``specs`` as :func:`load_plugins` returns
    them: files as absolute paths, so a job in another directory finds them), with what the environment names."""
    merged = list(dict.fromkeys([*plugins_from_env(), *specs]))
    if merged:
        os.environ[PLUGINS_ENV] = os.pathsep.join(merged)


def _ready() -> None:
    _ensure_builtins()
    load_plugins(plugins_from_env())


def get_method(name: str) -> Method:
    """The registered method (or pre-step) called ``name``; ValueError listing the valid names otherwise."""
    _ready()
    if name not in _METHODS:
        _load_entry_points()
    if name not in _METHODS:
        raise ValueError(f"method {name!r} is unknown; valid values: {method_names()} (a plugin method must be "
                         "named under `plugins:` in the config, or installed with a `tcbench.methods` entry point)")
    if name not in _INSTANCES:
        _INSTANCES[name] = _METHODS[name]()
    return _INSTANCES[name]


def method_names(include_steps: bool = False) -> list[str]:
    """Names of the campaign methods in registration order (built-ins first); pre-steps too when asked."""
    _ready()
    _load_entry_points()
    return [name for name, cls in _METHODS.items() if include_steps or not cls.step_only]


def methods() -> list[Method]:
    return [get_method(name) for name in method_names()]
