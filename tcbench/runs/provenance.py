"""Which code made a run: content hashes of the code a run executes, the libraries that change results, the machine.

A run's result depends on more than its parameters: on the method's and augmentations' code, on tcbench's shared
result code (data, features, models, training loops), on a few libraries and, in the last float digits, on the CPU
and the BLAS build. This module names that code and records it, so a finished run is never reused for other code
without the user seeing it.

The policy (docs/extending.md, "When your code changes"):

- **Components** are the modules that define a registered method (and its pre-step) or augmentation. A component
  outside the tcbench package (a plugin) enters the run key: by its declared ``version`` when the class sets one,
  else by the hash of its file. Editing a plugin therefore plans its runs again, and an edit to comments, docstrings
  or formatting changes no hash (the hash is taken over the module's syntax tree without docstrings).
- **In-tree code** (every module of the result packages) is covered by ``tcbench.RESULTS_VERSION``, which is part of
  every run key. ``result_code.json`` beside this module lists the hashes acknowledged for the current results
  version; ``tests/test_provenance.py`` fails when the code differs from them, so a developer either bumps the
  results version (results change) or acknowledges the new hashes (``python -m tcbench.runs.provenance
  acknowledge``: results do not change).
- Every marker records the hashes of the code its run used, tcbench's version and results version, the
  result-changing libraries and the machine (CPU model, torch build, BLAS). At planning, a finished run whose
  recorded code or libraries differ from today's (and were not acknowledged as equivalent) is named with each
  reason (:func:`code_changes`).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import tcbench
from tcbench import RESULTS_VERSION, __version__

PACKAGE_DIR = Path(tcbench.__file__).resolve().parent
#: The subpackages whose code can change a run's numbers (the rest reads, reports or plans results).
RESULT_PACKAGES = ("augment", "data", "features", "methods", "models", "runs", "training")
#: The libraries whose version can change a run's numbers.
RESULT_LIBRARIES = ("numpy", "scikit-learn", "scipy", "torch", "xgboost", "xgboost-cpu")
ACKNOWLEDGED_FILE = Path(__file__).with_name("result_code.json")
HASH_LENGTH = 16


# ------------------------------------------------------------------------------------------------ code hashes
class _StripDocstrings(ast.NodeTransformer):
    """Docstrings are documentation: an edit to one must not make a run's code look different."""

    def _strip(self, node: Any) -> Any:
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _strip


def _tree_hash(source: bytes, path: str) -> str:
    try:
        tree = _StripDocstrings().visit(ast.parse(source, filename=path))
        payload = ast.dump(tree, annotate_fields=False, include_attributes=False).encode()
    except SyntaxError:  # not ours to judge here: the import fails with its own message; hash the bytes
        payload = source
    return hashlib.sha256(payload).hexdigest()[:HASH_LENGTH]


def _cache_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tcbench" / "code_hashes.json"


@functools.cache
def _known_hashes() -> dict[str, str]:
    """Syntax-tree hashes by the sha256 of the file's bytes, kept across processes: parsing the ~60 result modules
    costs 0.27 s, a run's marker and every planning need them, and the bytes rarely change."""
    try:
        return dict(json.loads(_cache_file().read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def _remember(raw: str, tree: str) -> None:
    known = _known_hashes()
    known[raw] = tree
    try:
        from tcbench.atomic import atomic_write_text

        _cache_file().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_cache_file(), json.dumps(known))
    except OSError:
        pass  # a read-only home only costs the parse next time


@functools.lru_cache(maxsize=4096)
def _hash_source(path: str, mtime_ns: int, size: int) -> str:
    source = Path(path).read_bytes()
    raw = hashlib.sha256(source).hexdigest()[:32]
    tree = _known_hashes().get(raw)
    if tree is None:
        tree = _tree_hash(source, path)
        _remember(raw, tree)
    return tree


def code_hash(path: str | os.PathLike[str]) -> str:
    """Hash of a Python file's code, blind to comments, docstrings and formatting (its syntax tree)."""
    return _resolved_hash(Path(path).resolve())


def _resolved_hash(path: Path) -> str:
    stat = os.stat(path)  # one stat per call: an edit between two calls of a long-lived process is seen
    return _hash_source(str(path), stat.st_mtime_ns, stat.st_size)


def in_tree(path: str | os.PathLike[str]) -> bool:
    """Whether a file belongs to the tcbench package (covered by RESULTS_VERSION) rather than to a plugin."""
    return Path(path).resolve().is_relative_to(PACKAGE_DIR)


def display_path(path: str | os.PathLike[str]) -> str:
    """A file as people read it: ``tcbench/...`` for in-tree files, else the absolute path."""
    path = Path(path).resolve()
    return str(path.relative_to(PACKAGE_DIR.parent)) if in_tree(path) else str(path)


def result_files() -> list[Path]:
    """Every module of the result packages, sorted."""
    return sorted(p for pkg in RESULT_PACKAGES for p in (PACKAGE_DIR / pkg).rglob("*.py") if "__pycache__" not in p.parts)


# ------------------------------------------------------------------------------------------------- components
@dataclass(frozen=True)
class Component:
    """A registered method, pre-step or augmentation, with the file that defines it."""

    kind: str  # "method" or "augmentation"
    name: str
    file: Path  # resolved
    version: str | None  # declared by the class: a plugin's results then follow it, not its file's hash
    builtin: bool  # defined inside the tcbench package (covered by RESULTS_VERSION)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def hash(self) -> str:
        return _resolved_hash(self.file)

    def identity(self) -> str:
        """What enters the run key for a plugin: its declared version, else its code hash."""
        return f"version:{self.version}" if self.version is not None else f"sha256:{self.hash}"

    def record(self) -> dict[str, Any]:
        return {"file": display_path(self.file), "hash": self.hash, "version": self.version}


@functools.cache
def _component(kind: str, name: str, cls: type) -> Component:
    """One per class and process: planning asks for the components of every run (10 000 runs: 20 000 asks)."""
    import inspect

    declared = getattr(cls, "version", None)
    file = Path(inspect.getfile(cls)).resolve()
    return Component(kind, name, file, None if declared is None else str(declared), in_tree(file))


def _used_augmentations(method: Any, params: Mapping[str, Any]) -> list[str]:
    """Augmentation names a run's parameters select: the values of the parameters declared to name augmentations."""
    found: list[str] = []
    for param in method.params():
        if param.component == "augmentation" and param.name in params:
            value = params[param.name]
            found.extend(value if isinstance(value, list) else [value])
    return list(dict.fromkeys(str(v) for v in found))


def run_components(params: Mapping[str, Any]) -> list[Component]:
    """The components a run executes: its method, the method's pre-step and the augmentations it names."""
    from tcbench.augment import get_augmentation
    from tcbench.methods.registry import get_method

    method = get_method(params["method"])
    out = [_component("method", method.name, type(method))]
    if method.pre_step is not None:
        out.append(_component("method", method.pre_step.name, method.pre_step))
    for name in _used_augmentations(method, params):
        try:
            out.append(_component("augmentation", name, type(get_augmentation(name))))
        except ValueError:
            pass  # an unknown name is reported by the parameter check, in one line, with the valid names
    return out


def code_identity(params: Mapping[str, Any]) -> dict[str, str]:
    """The plugin part of a run's identity: ``{"method:knn": "sha256:..."}``; empty for in-tree code only, so the
    keys of runs made by tcbench's own methods and augmentations depend on RESULTS_VERSION alone."""
    return {c.label: c.identity() for c in run_components(params) if not c.builtin}


# ------------------------------------------------------------------------------------------------ the record
def component_files() -> set[Path]:
    """Files that define an in-tree component: each counts only for the runs that use one of its components."""
    return {c.file for c in builtin_components()} & set(result_files())


def shared_files() -> dict[str, str]:
    """Hashes of the in-tree result code every run uses (the result packages less the component modules)."""
    components = component_files()
    return {display_path(p): code_hash(p) for p in result_files() if p.resolve() not in components}


def digest(files: Mapping[str, str]) -> str:
    payload = json.dumps(dict(sorted(files.items())), separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:HASH_LENGTH]


def library_versions() -> dict[str, str]:
    """Installed versions of the result-changing libraries (package metadata: no import)."""
    found = {}
    for name in RESULT_LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def cpu_model() -> str:
    """The CPU model name (float sums round differently on other CPU kinds)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _torch_build() -> dict[str, Any] | None:
    """The torch build a run used (only when the run imported torch: importing it costs seconds)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    config = torch.__config__.show()
    # The build summary holds "..., BLAS_INFO=mkl, BUILD_TYPE=Release, ..." on one line.
    blas = next((line.split("BLAS_INFO=", 1)[1].split(",")[0].strip() for line in config.splitlines()
                 if "BLAS_INFO=" in line), "")
    return {"version": torch.__version__, "git": getattr(torch.version, "git_version", ""),
            "cuda": torch.version.cuda, "blas": blas, "mkldnn": bool(torch.backends.mkldnn.is_available())}


def _blas_libraries() -> list[dict[str, Any]]:
    """BLAS/OpenMP libraries loaded in this process, with their version and the kernel architecture they chose."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("internal_api", "version", "architecture", "num_threads")
    return [{k: lib.get(k) for k in keep if lib.get(k) is not None} for lib in threadpool_info()]


def platform_record() -> dict[str, Any]:
    """The machine facts that move the last digits of a CPU run: CPU model, torch build and BLAS."""
    return {"cpu": cpu_model(), "machine": platform.machine(), "torch": _torch_build(), "blas": _blas_libraries()}


def provenance(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the marker records about the code and machine that made a run."""
    shared = shared_files()
    return {
        "tcbench": __version__,
        "results_version": RESULTS_VERSION,
        "shared": {"digest": digest(shared), "files": shared},
        "components": {c.label: c.record() for c in run_components(params)},
        "libraries": library_versions(),
        "platform": platform_record(),
    }


# ------------------------------------------------------------------------------------------ acknowledgements
def read_acknowledged(path: Path = ACKNOWLEDGED_FILE) -> dict[str, Any]:
    """The in-tree code hashes acknowledged as making the results of the current results version."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {"results_version": RESULTS_VERSION, "shared": [], "components": {}}
    if data.get("results_version") != RESULTS_VERSION:  # a new results version starts a new list
        return {"results_version": RESULTS_VERSION, "shared": [], "components": {}}
    return data


def builtin_components() -> list[Component]:
    """Every in-tree method, pre-step and augmentation."""
    from tcbench.augment import augmentation_names, get_augmentation
    from tcbench.methods.registry import get_method, method_names

    found = [_component("method", n, type(get_method(n))) for n in method_names(include_steps=True)]
    found += [_component("augmentation", n, type(get_augmentation(n))) for n in augmentation_names()]
    return [c for c in found if c.builtin]


def unacknowledged() -> list[str]:
    """In-tree code that differs from every acknowledged version, one phrase per file or component (empty: none)."""
    known = read_acknowledged()
    problems = []
    shared = shared_files()
    if digest(shared) not in known["shared"]:
        recorded = known.get("files", {})
        problems += _file_changes(recorded, shared) or [f"shared result code (digest {digest(shared)})"]
    for comp in builtin_components():
        if comp.hash not in known["components"].get(comp.label, []):
            problems.append(f"{comp.label} ({display_path(comp.file)})")
    return problems


def acknowledge(path: Path = ACKNOWLEDGED_FILE) -> dict[str, Any]:
    """Record today's in-tree code as making the same results as the acknowledged code of this results version."""
    known = read_acknowledged(path)
    shared = shared_files()
    known["results_version"] = RESULTS_VERSION
    known["shared"] = list(dict.fromkeys([*known["shared"], digest(shared)]))
    known["files"] = shared
    components = known.setdefault("components", {})
    for comp in builtin_components():
        components[comp.label] = list(dict.fromkeys([*components.get(comp.label, []), comp.hash]))
    known["components"] = dict(sorted(components.items()))
    path.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
    return known


# ---------------------------------------------------------------------------------------- at planning time
def _file_changes(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    changed = [f"{f} changed" for f in sorted(recorded.keys() & current.keys()) if recorded[f] != current[f]]
    changed += [f"{f} removed" for f in sorted(recorded.keys() - current.keys())]
    changed += [f"{f} added" for f in sorted(current.keys() - recorded.keys())]
    return changed


@dataclass
class CodeNow:
    """Today's code and libraries, computed once per planning and compared with each finished run's record."""

    shared: dict[str, str]
    libraries: dict[str, str]
    acknowledged: dict[str, Any]

    def __post_init__(self) -> None:
        self.equivalent_shared = {digest(self.shared), *self.acknowledged["shared"]}

    @classmethod
    def current(cls) -> CodeNow:
        return cls(shared_files(), library_versions(), read_acknowledged())

    def changes(self, recorded: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
        """Why a finished run's recorded code differs from today's, one phrase per reason (empty: same code)."""
        reasons: list[str] = []
        shared = recorded.get("shared", {})
        if shared.get("digest") not in self.equivalent_shared:
            reasons += _file_changes(shared.get("files", {}), self.shared) or ["tcbench's shared result code changed"]
        now = {c.label: c for c in run_components(params)}
        for label, rec in recorded.get("components", {}).items():
            comp = now.get(label)
            if comp is None:
                continue
            current_hash = comp.hash
            if rec.get("hash") == current_hash or rec.get("hash") in self.acknowledged["components"].get(label, []):
                continue
            kept = f" (its declared version {comp.version} was kept)" if comp.version is not None else ""
            reasons.append(f"{label} code changed{kept}: {display_path(comp.file)}")
        libraries = recorded.get("libraries", {})
        reasons += [f"{name} {libraries[name]} -> {self.libraries.get(name, 'not installed')}"
                    for name in sorted(libraries) if libraries[name] != self.libraries.get(name)]
        return reasons


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m tcbench.runs.provenance [check|acknowledge]``: compare or record the in-tree result code."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "check"
    if command == "acknowledge":
        acknowledge()
        print(f"acknowledged today's result code for results version {RESULTS_VERSION} in {ACKNOWLEDGED_FILE}")
        return 0
    if command == "check":
        problems = unacknowledged()
        for line in problems:
            print(line)
        return 1 if problems else 0
    print("usage: python -m tcbench.runs.provenance [check|acknowledge]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
