"""Differential testing at the query level: random SQL (with and without
Python UDFs) run single-node, distributed over real dfship worker processes
and, when no Python UDF is involved, in DuckDB; any disagreement is shrunk
to a minimal query and saved as a regression. ``python -m sqlgen --help``.
"""

import sys
from pathlib import Path

# the property harness' importable UDF bodies (harness_udfs), shared
_DRIVER = str(Path(__file__).resolve().parent.parent / "driver")
if _DRIVER not in sys.path:
    sys.path.append(_DRIVER)
