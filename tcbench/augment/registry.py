"""The one registry of augmentations: name -> :class:`~tcbench.augment.base.Augmentation` instance.

Augmentations register themselves when their module is imported (``@register_augmentation`` on the class):
``tcbench.augment`` imports the built-ins (``original``, in the original's order) and then every other module of
the package, so an in-tree augmentation is one new module and nothing else; an out-of-tree one is a module
anywhere that does the same and is imported by the project's plugin loader (``plugins:`` of a config).

Registration order is kept: :func:`augmentation_names` lists the built-ins first, in the original's order
(noaug, rotate, horizontalflip, colorjitter, packetloss, changertt, timeshift), which is also the order of the
campaign grid's augmentation axis.
"""

from __future__ import annotations

import inspect
import re
from typing import TypeVar

from tcbench.augment.base import OPERANDS, Augmentation, ImageAugmentation, Operand, SeriesAugmentation
from tcbench.plugins import PluginError, Registry, declared_at

A = TypeVar("A", bound=type[Augmentation])

# Names travel in comma lists (--cl-aug-names), run names joined with "+" and file names: keep them plain.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")

#: The registered augmentations by name. Its built-ins are imported with the package (``tcbench.augment``), so
#: the registry has no loader of its own.
REGISTRY: Registry[Augmentation] = Registry("augmentation")

__all__ = ["augmentation_names", "get_augmentation", "register_augmentation", "unregister_augmentation"]


def _check_class(cls: type) -> None:
    """Reject a class that cannot honour the contract now, rather than at the first run that uses it; each message
    starts with the file and line of the class, as the method registry's do."""
    if not (inspect.isclass(cls) and issubclass(cls, Augmentation)):
        raise TypeError(f"{cls!r} is not a subclass of tcbench.augment.base.Augmentation")
    where = f"{declared_at(cls)}: augmentation class {cls.__qualname__}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PluginError(f"{where}: `name` must be lowercase letters, digits, '-' or '_' (got {name!r})")
    expected: Operand = ("flowpic" if issubclass(cls, ImageAugmentation)
                         else "packets" if issubclass(cls, SeriesAugmentation) else "none")
    if cls.operates_on not in OPERANDS or cls.operates_on != expected:
        raise PluginError(f"{where}: operates_on is {cls.operates_on!r} but the class is a {expected!r} augmentation "
                          "(subclass ImageAugmentation for flowpics, SeriesAugmentation for packet series)")
    if issubclass(cls, SeriesAugmentation):
        if not isinstance(getattr(cls, "parameter", None), str):
            raise PluginError(f"{where}: a series augmentation needs `parameter`, the key of its one drawn parameter")
        if not isinstance(getattr(cls, "identity", None), (int, float)):
            raise PluginError(f"{where}: a series augmentation needs `identity`, the parameter that changes nothing")
    if inspect.isabstract(cls):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        raise TypeError(f"{where} does not implement {missing}")


def register_augmentation(cls: A) -> A:
    """Class decorator: make ``cls`` known by its ``name``; returns ``cls`` unchanged.

    Registering the same class again is harmless (a module imported twice, or re-executed under the same
    qualified name by a reload, replaces its own entry); another class under a taken name is an error naming
    both and telling the plugin to rename (a plugin never displaces a built-in; of two plugins the later one
    gives way), so two plugins cannot silently shadow each other or a built-in.
    """
    _check_class(cls)
    instance = cls()
    if instance.operates_on == "none" and instance.copies(10) != 0:
        raise PluginError(f"{declared_at(cls)}: augmentation class {cls.__qualname__} operates on nothing, so it "
                          "cannot make copies")
    REGISTRY.add(cls.name, cls, instance)
    return cls


def unregister_augmentation(name: str) -> None:
    """Forget ``name`` (tests and interactive sessions that register a temporary plugin)."""
    REGISTRY.remove(name)


def get_augmentation(name: str) -> Augmentation:
    """The registered augmentation called ``name``; ValueError listing the valid names otherwise."""
    return REGISTRY.get(name)


def augmentation_names(operates_on: Operand | None = None) -> tuple[str, ...]:
    """Registered names in registration order (built-ins first), optionally only those operating on
    ``"none"``, ``"flowpic"`` or ``"packets"``."""
    if operates_on is not None and operates_on not in OPERANDS:
        raise ValueError(f"operates_on must be one of {list(OPERANDS)}, got {operates_on!r}")
    return tuple(name for name, aug in REGISTRY.items() if operates_on is None or aug.operates_on == operates_on)
