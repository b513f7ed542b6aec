"""The campaign config schema file, written from its hand-written part and the methods' declarations.

``workflow/schemas/config.schema.yaml`` is what Snakemake validates a config against and what people read for every
key. Its method parts (the method, dataset and augmentation names, the grid axes, every method's settings with
type, default, bounds and help) are never edited by hand: ``python -m tcbench.campaign.schema_file`` writes the file
from ``workflow/schemas/config.base.schema.yaml`` (everything else) and the built-in methods' declarations, and a
test checks the file byte for byte against what the command would write.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from tcbench.campaign.compose import SCHEMA
from tcbench.methods.registry import get_method, method_names
from tcbench.methods.schema import generated_schema

BASE = SCHEMA.with_name("config.base.schema.yaml")
HEADER = ("# Written by `python -m tcbench.campaign.schema_file` from config.base.schema.yaml and the methods'\n"
          "# parameter declarations: edit those, never this file (a test compares it with what the command writes).\n")


def render() -> str:
    """The schema file's text from the base file and the built-in methods (plugins complete it at planning)."""
    base = yaml.safe_load(BASE.read_text())
    builtin = [get_method(name) for name in method_names() if get_method(name).origin.startswith("tcbench.")]
    text = yaml.safe_dump(generated_schema(base, builtin), sort_keys=False, width=118, allow_unicode=True)
    return HEADER + text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tcbench.campaign.schema_file", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1, naming the file, when it is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not SCHEMA.exists() or SCHEMA.read_text() != text:
            print(f"{SCHEMA} is not what the declarations give; write it with: python -m tcbench.campaign.schema_file",
                  file=sys.stderr)
            return 1
        return 0
    Path(SCHEMA).write_text(text)
    print(f"wrote {SCHEMA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
