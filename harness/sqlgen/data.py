"""The schema family the random queries run over, and its data.

Three tables, each written as several Parquet files so that distributed
plans really split their scans into tasks:

- ``ta`` and ``tb`` are fact-like: a unique ``id``, a uniformly distributed
  key ``ku`` (0..15), a skewed key ``ks`` (four rows in ten share the value
  0), a float ``x`` holding multiples of 0.25 (binary-exact, so sums agree
  in any order), a decimal ``amt``, a string ``tag`` (empty and non-ASCII
  values included) and a date ``day``. Every column but ``id`` has nulls.
- ``tc`` is a small dimension: a unique ``id``, a key ``k`` (0..23, each
  once, so joins on it never fan out), a ``label`` and a decimal ``w``.

The data are a pure function of :data:`DATA_VERSION`: a saved regression
names the version it was found on, and replays against the same rows.
"""

from __future__ import annotations

import datetime
import decimal
import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: Bump when the rows change: regressions saved on another version are
#: replayed with a warning that their data differ.
DATA_VERSION = 1

TAGS = ["red", "green", "blue", "", "Ünïcode ✓", "x y", "RED", "g%reen"]
LABELS = ["north", "south", "east", "west", "centre", None]


@dataclass(frozen=True)
class Column:
    name: str
    #: one of int, float, dec, str, date
    kind: str
    nullable: bool = True
    #: a key column: joins and groupings use it
    key: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    rows: int
    files: int
    columns: tuple[Column, ...]

    @property
    def unique(self) -> str:
        return "id"


FACT_COLUMNS = (
    Column("id", "int", nullable=False, key=True),
    Column("ku", "int", key=True),
    Column("ks", "int", key=True),
    Column("x", "float"),
    Column("amt", "dec"),
    Column("tag", "str"),
    Column("day", "date"),
)

TABLES = (
    Table("ta", 360, 4, FACT_COLUMNS),
    Table("tb", 220, 3, FACT_COLUMNS),
    Table(
        "tc",
        24,
        2,
        (
            Column("id", "int", nullable=False, key=True),
            Column("k", "int", key=True),
            Column("label", "str"),
            Column("w", "dec"),
        ),
    ),
)

BY_NAME = {t.name: t for t in TABLES}

ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "dec": pa.decimal128(10, 2),
    "str": pa.string(),
    "date": pa.date32(),
}


def _maybe_null(rng: random.Random, value: object, rate: float) -> object:
    return None if rng.random() < rate else value


def _fact_rows(rng: random.Random, n: int, id_offset: int) -> dict[str, list[object]]:
    base = datetime.date(2020, 1, 1)
    cols: dict[str, list[object]] = {c.name: [] for c in FACT_COLUMNS}
    for i in range(n):
        skewed = 0 if rng.random() < 0.4 else min(int(rng.expovariate(0.25)) + 1, 30)
        cols["id"].append(id_offset + i)
        cols["ku"].append(_maybe_null(rng, rng.randrange(16), 0.08))
        cols["ks"].append(_maybe_null(rng, skewed, 0.05))
        cols["x"].append(_maybe_null(rng, rng.randrange(-200, 200) / 4, 0.1))
        cols["amt"].append(
            _maybe_null(rng, decimal.Decimal(rng.randrange(-50000, 50000)) / 100, 0.1)
        )
        cols["tag"].append(_maybe_null(rng, rng.choice(TAGS), 0.1))
        cols["day"].append(_maybe_null(rng, base + datetime.timedelta(rng.randrange(1000)), 0.1))
    return cols


def _dimension_rows(rng: random.Random, n: int) -> dict[str, list[object]]:
    keys = list(range(n))
    rng.shuffle(keys)
    return {
        "id": list(range(1000, 1000 + n)),
        "k": [_maybe_null(rng, k, 0.05) for k in keys],
        "label": [rng.choice(LABELS) for _ in range(n)],
        "w": [_maybe_null(rng, decimal.Decimal(rng.randrange(0, 10000)) / 100, 0.1) for _ in keys],
    }


def table_data(table: Table) -> pa.Table:
    """The rows of ``table`` (deterministic)."""
    rng = random.Random(f"{DATA_VERSION}:{table.name}")
    if table.name == "tc":
        cols = _dimension_rows(rng, table.rows)
    else:
        cols = _fact_rows(rng, table.rows, 0 if table.name == "ta" else 100)
    schema = pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.kind], nullable=c.nullable) for c in table.columns]
    )
    return pa.table({c.name: cols[c.name] for c in table.columns}, schema=schema)


def write(root: Path) -> dict[str, Path]:
    """Writes every table under ``root`` (a directory per table, several
    files each) and returns the directories."""
    out = {}
    for table in TABLES:
        directory = root / table.name
        directory.mkdir(parents=True, exist_ok=True)
        data = table_data(table)
        per_file = -(-table.rows // table.files)
        for part in range(table.files):
            chunk = data.slice(part * per_file, per_file)
            pq.write_table(chunk, directory / f"part-{part}.parquet", row_group_size=64)
        out[table.name] = directory
    return out
