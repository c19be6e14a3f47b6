"""The unpickler probe: counts `pickle.find_class` audit events (raised
whenever an unpickler resolves a global, as loading any pickled function
does), so a test can show that a refusal came before any unpickling."""

from __future__ import annotations

import sys
from typing import Any

_find_class_events = 0


def _audit(event: str, _args: tuple[Any, ...]) -> None:
    global _find_class_events
    if event == "pickle.find_class":
        _find_class_events += 1


sys.addaudithook(_audit)


class Unpickles:
    """Counts unpickler lookups in a block (clear the decoded-UDF cache first
    where a cached callable could stand in for an unpickling)."""

    def __enter__(self) -> Unpickles:
        self.start = _find_class_events
        return self

    def __exit__(self, *exc: object) -> None:
        self.count = _find_class_events - self.start
