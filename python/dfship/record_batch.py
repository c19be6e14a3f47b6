"""Query results one record batch at a time (see
:meth:`dfship.DataFrame.execute_stream`).

>>> import dfship
>>> df = dfship.SessionContext().from_pydict({"a": [1, 2, 3]})
>>> [batch.to_pyarrow().num_rows for batch in df.execute_stream()]
[3]
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pyarrow as pa

from dfship import _internal

__all__ = ["RecordBatch", "RecordBatchStream"]


class RecordBatch:
    """One batch of a query's result."""

    __slots__ = ("_batch",)

    def __init__(self, batch: pa.RecordBatch) -> None:
        self._batch = batch

    def to_pyarrow(self) -> pa.RecordBatch:
        """The batch as a ``pyarrow.RecordBatch`` (no copy)."""
        return self._batch

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]:
        """Arrow PyCapsule array export."""
        capsules: tuple[object, object] = self._batch.__arrow_c_array__(requested_schema)
        return capsules

    def __repr__(self) -> str:
        return f"RecordBatch(rows={self._batch.num_rows}, columns={self._batch.schema.names})"


class RecordBatchStream:
    """A running query's output, pulled one batch at a time: only the batch
    being handed over is held in memory. Iterate it (``for``, ``async for``)
    or call :meth:`next`. A stream is read once, by one thread at a time."""

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.RecordBatchStream) -> None:
        self._raw = raw

    @property
    def schema(self) -> pa.Schema:
        """The schema of every batch."""
        schema: pa.Schema = self._raw.schema()
        return schema

    def next(self) -> RecordBatch:
        """The next batch; ``StopIteration`` when the query is done."""
        return RecordBatch(self._raw.next())

    def __next__(self) -> RecordBatch:
        return self.next()

    def __iter__(self) -> Iterator[RecordBatch]:
        return self

    def _next_or_none(self) -> RecordBatch | None:
        try:
            return self.next()
        except StopIteration:
            return None

    async def __anext__(self) -> RecordBatch:
        batch = await asyncio.get_running_loop().run_in_executor(None, self._next_or_none)
        if batch is None:
            raise StopAsyncIteration
        return batch

    def __aiter__(self) -> AsyncIterator[RecordBatch]:
        return self
