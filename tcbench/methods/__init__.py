"""Training methods as plugins: one contract (:class:`Method`), one registry, one module per method.

``tcbench.methods.supervised`` (the flowpic CNN, ``monolithic``), ``tcbench.methods.xgboost_baseline``
(``xgboost``) and ``tcbench.methods.simclr`` (``simclr`` and its pre-step) are the built-ins; plugins come from a
config's ``plugins:`` list or the ``tcbench.methods`` entry-point group (docs/extending.md). Importing this package
is cheap: it imports no training library.
"""

from tcbench.contract import Method, Param, RunContext
from tcbench.methods.registry import (
    PluginError,
    export_plugins,
    get_method,
    load_plugins,
    method_names,
    methods,
    register,
)

__all__ = ["Method", "Param", "PluginError", "RunContext", "export_plugins", "get_method", "load_plugins", "method_names", "methods",
           "register"]
