"""References in the repository stay followable inside the repository.

The original tcbench's behaviour that the code relies on is described in docs/original-behaviour.md. Comments,
docstrings and documents cite its sections by name ("(docs/original-behaviour.md, Augmentations)") or link its
anchors; they must not cite a behaviour spec kept outside the repository, or any document by section sign and number,
since a reader of the repository cannot follow such a citation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "original-behaviour.md"

# Folders that are not the project's text: environments, version control, generated outputs and caches.
SKIP_DIRS = {".venv", ".git", "results", "resources", "logs", "build", "__pycache__", ".snakemake", ".pytest_cache",
             ".hypothesis", ".mypy_cache", ".ruff_cache", "output", "out"}
TEXT_SUFFIXES = {".py", ".md", ".smk", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".sh", ".rst", ".json",
                 ".csv", ".html", ".j2"}
TEXT_NAMES = {"Snakefile", "Makefile", "Dockerfile"}

# Built from parts so that this file does not match itself.
SECTION_SIGN = "\u00a7"
FORBIDDEN = {
    "the outside behaviour spec": "tcbench-" + "behaviour.md",
    "the outside datasets notes": "datasets-and-" + "results.md",
    "the outside reference folder": "shared/" + "reference/",
}


def repository_text_files() -> list[Path]:
    files = []
    stack = [ROOT]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                if entry.name not in SKIP_DIRS and not entry.name.endswith(".egg-info"):
                    stack.append(entry)
            elif entry.is_file() and (entry.suffix in TEXT_SUFFIXES or entry.name in TEXT_NAMES):
                files.append(entry)
    return files


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def doc_headings() -> list[str]:
    return [m.group(2).strip() for m in re.finditer(r"^(#{2,6})\s+(.+)$", read(DOC), re.MULTILINE)]


def test_the_behaviour_document_exists_with_its_sections():
    headings = doc_headings()
    for section in ("Flowpic construction", "Augmentations", "Splits", "Models", "Training and early stopping",
                    "SimCLR", "XGBoost", "Metrics and outputs", "Datasets", "Published results",
                    "Known weaknesses of the original"):
        assert section in headings, section


def test_no_citation_of_documents_outside_the_repository():
    problems = []
    for path in repository_text_files():
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(read(path).splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}"
            if SECTION_SIGN in line:
                problems.append(f"{where}: section sign (cite a section of docs/original-behaviour.md by name)")
            for what, needle in FORBIDDEN.items():
                if needle in line:
                    problems.append(f"{where}: cites {what} ({needle}); use docs/original-behaviour.md")
    assert not problems, "\n".join(problems)


def test_links_to_the_behaviour_document_name_existing_anchors():
    anchors = {slug(h) for h in doc_headings()}
    problems = []
    for path in repository_text_files():
        for m in re.finditer(r"original-behaviour\.md#([\w\-]+)", read(path)):
            if m.group(1) not in anchors:
                problems.append(f"{path.relative_to(ROOT)}: no heading for #{m.group(1)}")
    assert not problems, "\n".join(problems)


def _joined(text: str) -> str:
    """The text with line breaks, indentation and comment markers removed, so a citation wrapped over lines reads
    as one."""
    return re.sub(r"\s*\n\s*(?:#:?\s*)?", " ", text)


@pytest.mark.parametrize("suffix", [".py", ".md"])
def test_named_sections_of_the_behaviour_document_exist(suffix):
    """ "docs/original-behaviour.md, <section>" and "docs/original-behaviour.md (<section>)" name a heading."""
    headings = [h.lower() for h in doc_headings()]
    problems = []
    for path in repository_text_files():
        if path.suffix != suffix or path == Path(__file__).resolve():
            continue
        for m in re.finditer(r"docs/original-behaviour\.md(?:, |\s\()([A-Za-z][^,;:()]*)", _joined(read(path))):
            cited = m.group(1).strip().lower()
            if not any(re.match(re.escape(h) + r"(?![\w-])", cited) for h in headings):
                problems.append(f"{path.relative_to(ROOT)}: no section named {m.group(1).strip()!r}")
    assert not problems, "\n".join(problems)
