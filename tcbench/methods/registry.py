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
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from tcbench.methods.contract import Method

ENTRY_POINT_GROUP = "tcbench.methods"
PLUGINS_ENV = "TCBENCH_PLUGINS"
# The built-in methods in the original's order (the order of `method:`'s valid values); any other module of this
# package is a method too and follows them, so an in-tree method is one new module here (docs/extending.md).
_BUILTIN_MODULES = ("tcbench.methods.supervised", "tcbench.methods.xgboost_baseline", "tcbench.methods.simclr")
_INFRASTRUCTURE = frozenset({"contract", "params", "registry", "schema"})

_METHODS: dict[str, type[Method]] = {}
_INSTANCES: dict[str, Method] = {}
_LOADED: set[str] = set()
_state = {"builtins": False, "entry_points": False}


class PluginError(ValueError):
    """A plugin module that cannot be loaded, or a name registered twice."""


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` (and its pre-step) known by name. Registering the same class again is a
    no-op; another class under a taken name is an error naming both."""
    for item in (cls, cls.pre_step) if cls.pre_step is not None else (cls,):
        name = getattr(item, "name", None)
        if not name:
            raise PluginError(f"{item.__module__}.{item.__qualname__}: a method needs a `name`")
        known = _METHODS.get(name)
        if known is not None and known is not item and _qualname(known) != _qualname(item):
            raise PluginError(f"method name {name!r} is taken by {_qualname(known)}; {_qualname(item)} must use another")
        _METHODS[name] = item
        _INSTANCES.pop(name, None)
        item.origin = item.__module__
    return cls


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


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
    imported (files as absolute paths)."""
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
        module_name = f"tcbench_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
        if module_name not in sys.modules:
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            try:
                module_spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[module_name]
                raise PluginError(f"plugins: {spec} fails to import: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            importlib.import_module(spec)
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
