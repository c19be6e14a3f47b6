"""Differential testing at the query level: random SQL (with and without
Python UDFs) run single-node, distributed over real dfship worker processes
and, when no Python UDF is involved, in DuckDB; any disagreement is shrunk
to a minimal query and saved as a regression. ``python -m sqlgen --help``.
"""
