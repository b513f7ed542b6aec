"""The mirage22 importer: the MIRAGE importer bound to mirage22's file names, filters and columns (see ``mirage``)."""

from functools import partial

from tcbench.data.importers import mirage

VARIANT = mirage.MIRAGE22
IMPORTER_VERSION = mirage.IMPORTER_VERSION
SCHEMA = VARIANT.schema
discover = partial(mirage.discover, VARIANT)
partition_parts = mirage.partition_parts
convert_part = partial(mirage.convert_part, VARIANT)  # a partial of a top-level function: picklable for workers
derive = partial(mirage.derive, VARIANT)
