"""Reading files on the global session (:meth:`SessionContext.global_ctx`),
without making a session first.

>>> import dfship.io, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> _ = open(path, "w").write("a,b\\n1,x\\n")
>>> dfship.io.read_csv(path).to_pydict()
{'a': [1], 'b': ['x']}
"""

from __future__ import annotations

from dfship import SessionContext, read_csv, read_json, read_parquet

__all__ = ["read_avro", "read_csv", "read_json", "read_parquet"]


def read_avro(path: object, **options: object) -> object:
    """Avro on the global session: see :meth:`SessionContext.read_avro`
    (dfship is built without DataFusion's Avro reader, so it raises
    ``NotImplementedError``)."""
    return SessionContext.global_ctx().read_avro(path, **options)  # type: ignore[arg-type]
