"""Reading files on the global session (:meth:`SessionContext.global_ctx`),
without making a session first.

>>> import dfship.io, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> _ = open(path, "w").write("a,b\\n1,x\\n")
>>> dfship.io.read_csv(path).to_pydict()
{'a': [1], 'b': ['x']}
"""

from __future__ import annotations

from dfship import read_csv, read_json, read_parquet

__all__ = ["read_avro", "read_csv", "read_json", "read_parquet"]


def read_avro(path: object, **options: object) -> object:
    """Avro is not built into dfship: this raises ``NotImplementedError``
    (DataFusion's Avro reader is a build feature dfship leaves out)."""
    raise NotImplementedError(
        "dfship is built without DataFusion's Avro reader; convert the files to Parquet"
    )
