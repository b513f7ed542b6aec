"""What methods and augmentations share as plugins: a named registry, the messages that name a plugin's file and
line, in-tree module discovery, and importing plugin modules named by a config.

One registry class serves both kinds, so a name collision, a built-in displaced by a plugin or an import failure
reads the same whichever kind it concerns. A plugin module may register a method, an augmentation or both: it
is imported once, by :func:`load_plugins`, whatever it holds. This module imports nothing of tcbench, so every
layer can use it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

PLUGINS_ENV = "TCBENCH_PLUGINS"
# The module name a plugin loaded from a file gets (internal: users know the plugin by its path).
_FILE_MODULE_PREFIX = "tcbench_plugin_"

T = TypeVar("T")


class PluginError(ValueError):
    """A plugin module that cannot be loaded, a declaration no run can use, or a name registered twice."""


class Registry(Generic[T]):
    """Names to registered items, in registration order (built-ins first).

    ``kind`` names what is registered in messages ("method", "augmentation"); ``builtins`` imports the in-tree
    modules that register themselves, called once before the first lookup and before any plugin is loaded, so a
    plugin that takes a built-in's name is always the one told to rename.
    """

    _all: list[Registry[Any]] = []

    def __init__(self, kind: str, builtins: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._classes: dict[str, type] = {}
        self._builtins = builtins
        self._builtins_loaded = builtins is None
        self._lock = threading.RLock()
        Registry._all.append(self)

    def ensure_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            assert self._builtins is not None
            self._builtins()

    def add(self, name: str, cls: type, item: T) -> None:
        """Register ``item`` (made by ``cls``) under ``name``. The same class again replaces its own entry (a module
        imported twice, or reloaded); another class under a taken name is a PluginError naming both."""
        with self._lock:
            known = self._classes.get(name)
            if known is not None and known is not cls and qualname(known) != qualname(cls):
                raise PluginError(collision_message(self.kind, name, known, cls))
            self._classes[name] = cls
            self._items[name] = item

    def remove(self, name: str) -> None:
        with self._lock:
            if self._items.pop(name, None) is None:
                raise ValueError(f"unknown {self.kind} {name!r}; valid: {list(self._items)}")
            self._classes.pop(name, None)

    def get(self, name: str) -> T:
        self.ensure_builtins()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.kind} {name!r}; valid: {list(self._items)}") from None

    def __contains__(self, name: object) -> bool:
        self.ensure_builtins()
        return name in self._items

    def names(self) -> list[str]:
        self.ensure_builtins()
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        self.ensure_builtins()
        return list(self._items.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def snapshot(self) -> tuple[dict[str, T], dict[str, type]]:
        """The entries now, for :meth:`restore` (tests that register temporary plugins)."""
        return dict(self._items), dict(self._classes)

    def restore(self, state: tuple[dict[str, T], dict[str, type]]) -> None:
        with self._lock:
            self._items, self._classes = dict(state[0]), dict(state[1])


def package_modules(package: str, first: Sequence[str] = (), skip: Iterable[str] = ()) -> list[str]:
    """The modules of ``package`` that register items: ``first`` (the original's built-ins, in its order), then
    every other module by name, except ``skip`` and private ones, so an in-tree addition is one new module."""
    module = importlib.import_module(package)
    skipped = set(skip)
    found = [f"{package}.{m.name}" for m in pkgutil.iter_modules(module.__path__)
             if m.name not in skipped and not m.name.startswith("_")]
    return [*first, *sorted(set(found) - set(first))]


def ensure_builtins() -> None:
    """Register every registry's built-ins (before plugins, so built-ins keep their names)."""
    for registry in list(Registry._all):
        registry.ensure_builtins()


# ------------------------------------------------------------------------------------------- naming a plugin
def collision_message(kind: str, name: str, known: type, new: type) -> str:
    """Two classes want one name: the line says which plugin must rename (a plugin never displaces a built-in,
    and of two plugins the later one gives way) and where that plugin declares the name."""
    if is_builtin(new) and not is_builtin(known):
        new, known = known, new
    owner = f"{qualname(known)} (built in)" if is_builtin(known) else describe_class(known)
    return (f"{declared_at(new, attribute='name')}: {kind} name {name!r} is taken by {owner}; rename the plugin's "
            f"{kind} (class {new.__qualname__}: name = {name!r})")


def is_builtin(cls: type) -> bool:
    """Whether ``cls`` is tcbench's own (a module of the tcbench package), not a plugin's."""
    return cls.__module__.split(".")[0] == "tcbench"


def qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def plugin_source(cls: type) -> str:
    """Where a user finds a registered class: the file of a plugin loaded from a ``.py`` path (the module name such a
    file is imported under is internal), the module of the others (built-ins, dotted plugins, entry points)."""
    if cls.__module__.startswith(_FILE_MODULE_PREFIX):
        return shown_path(module_file(cls) or cls.__module__)
    return cls.__module__


def describe_class(cls: type) -> str:
    """``module.Class``, or ``Class in path/to/plugin.py`` for a class of a plugin file."""
    if cls.__module__.startswith(_FILE_MODULE_PREFIX):
        return f"{cls.__qualname__} in {plugin_source(cls)}"
    return qualname(cls)


def declared_at(cls: type, value: object | None = None, attribute: str | None = None) -> str:
    """``<file>:<line>`` of ``value``'s assignment in the module of ``cls`` (when it is a module variable there), or
    of ``attribute``'s assignment in the class body, else of the ``class`` statement; the file alone when its
    source cannot be read."""
    file = module_file(cls)
    if file is None:
        return describe_class(cls)
    variable = variable_of(cls, value) if value is not None else None
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


def variable_of(cls: type, value: object | None) -> str | None:
    """The module-level name ``value`` is bound to in the module of ``cls``, if any."""
    module = sys.modules.get(cls.__module__)
    return next((name for name, bound in vars(module).items() if bound is value), None) if module else None


def module_file(cls: type) -> str | None:
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


# --------------------------------------------------------------------------------------- loading plugin modules
_LOADED: set[str] = set()


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

    The built-ins of every registry are registered first, so a plugin that takes a built-in's name is the one told
    to rename, whichever command or config loads it."""
    ensure_builtins()
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
