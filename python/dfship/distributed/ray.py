"""dfship workers as Ray actors: a Ray cluster hosts the workers of a
:class:`~dfship.distributed.DistributedContext`. After ``ray.init()``,
``DistributedContext(start_workers())`` runs queries on one worker per node
(``examples/distributed_query.py --ray`` runs this on a local Ray).

Each actor hosts one :class:`~dfship.distributed.Worker`, listening on its
node's address. The workers live as long as the returned
:class:`RayWorkers` (or until :meth:`RayWorkers.stop`).

An actor whose process dies is restarted by Ray (``max_restarts``). On the
same node it listens on the port it had, so its URL does not change: a
:class:`~dfship.distributed.DistributedContext` drops it while it is gone
and uses it again once it answers. Restarted on another node (its node was
lost), it has a new URL: :meth:`RayWorkers.refresh` reads the current ones.
"""

from __future__ import annotations

import math
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dfship.distributed import Tls

__all__ = ["RayWorkers", "start_workers"]


class RayWorkers(list[str]):
    """The URLs of workers hosted by Ray actors; it keeps the actors alive.
    :attr:`token` is the token they require."""

    def __init__(self, urls: list[str], actors: list[Any], token: str) -> None:
        super().__init__(urls)
        self._actors = actors
        #: The token every request to these workers must carry: pass it to
        #: ``DistributedContext(workers, token=workers.token)``.
        self.token = token
        #: Each worker's runtime threads (as many as the CPUs its actor
        #: reserved, unless both were given).
        self.threads: list[int] = []

    @property
    def actors(self) -> list[Any]:
        """The Ray actor handles, one per worker."""
        return list(self._actors)

    def refresh(self) -> RayWorkers:
        """Asks every actor for its URL (restarted on another node, it has a
        new one) and updates this list in place; returns it."""
        import ray

        self[:] = ray.get([a.url.remote() for a in self._actors])
        return self

    def stop(self) -> None:
        """Stops every worker and ends its actor."""
        import ray

        actors, self._actors = self._actors, []
        ray.get([a.stop.remote() for a in actors])
        for actor in actors:
            ray.kill(actor)


def _port_note(actor_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"dfship-ray-{os.getuid()}" / f"{actor_id}.port"


def _actor_class(ray: Any) -> Any:
    @ray.remote
    class DfshipWorkerActor:
        def __init__(
            self,
            port: int,
            token: str | None,
            python_udf_inlining: bool,
            threads: int | None,
            object_stores: list[str],
            tls: Tls | None,
        ) -> None:
            from dfship.distributed import Worker

            host = ray.util.get_node_ip_address()
            context = ray.get_runtime_context()
            # Where this actor notes its port, so that a restart on the same
            # node listens where the coordinators already look.
            note = _port_note(context.get_actor_id())
            if context.was_current_actor_reconstructed and note.exists():
                port = int(note.read_text())
            deadline = time.monotonic() + 30
            while True:
                try:
                    self.worker = Worker(
                        port,
                        host=host,
                        token=token,
                        python_udf_inlining=python_udf_inlining,
                        threads=threads,
                        object_stores=object_stores,
                        tls=tls,
                    )
                    break
                except OSError:
                    # The dead process's socket may hold the port a moment.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            note.parent.mkdir(parents=True, exist_ok=True)
            note.write_text(self.worker.url.rsplit(":", 1)[1])

        def url(self) -> str:
            return self.worker.url

        def pid(self) -> int:
            import os

            return os.getpid()

        def stop(self) -> None:
            self.worker.stop()
            _port_note(ray.get_runtime_context().get_actor_id()).unlink(missing_ok=True)

    return DfshipWorkerActor


def start_workers(
    n: int | None = None,
    *,
    token: str | None = None,
    python_udf_inlining: bool = True,
    port: int = 0,
    threads: int | None = None,
    num_cpus: float | None = None,
    object_stores: Sequence[str] = (),
    tls: Tls | None = None,
    max_restarts: int = 3,
) -> RayWorkers:
    """Starts ``n`` dfship workers as Ray actors on the connected Ray
    cluster (``ray.init()`` first) and returns their URLs.

    By default one worker per alive node, each pinned to its node; with
    ``n``, the actors are spread over the nodes. A worker's runtime threads
    (``threads``) and the CPUs its actor reserves from Ray (``num_cpus``)
    agree: given one, the other follows (``threads`` is ``num_cpus``
    rounded up); given neither, one worker per node takes all of its node's
    CPUs, and each of ``n`` workers takes one. Give both to decide each
    yourself. :attr:`RayWorkers.threads` tells what each worker got.
    The workers share ``token`` (a
    random one when none is given: the workers listen on their nodes'
    addresses), returned as :attr:`RayWorkers.token`, and read
    ``DFSHIP_PAYLOAD_KEY`` from their environment, which Ray's
    ``runtime_env`` can set. With ``tls`` (:class:`~dfship.distributed.Tls`,
    whose files must exist on every node) they serve TLS. Object stores are each worker's own:
    ``object_stores`` (``--object-store`` URLs) and the ``AWS_*``,
    ``GOOGLE_*`` or ``AZURE_*`` variables of ``runtime_env``'s ``env_vars``.
    Ray restarts an actor whose process dies up to ``max_restarts`` times
    (-1: always); see the module's notes for its URL.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor = _actor_class(ray)
    if isinstance(object_stores, str):
        raise TypeError("object_stores is a sequence of URLs, not one string")
    if token is None:
        token = secrets.token_urlsafe(32)
    stores = [str(u) for u in object_stores]
    placements: list[tuple[Any, float]]
    if n is None:
        alive = [node for node in ray.nodes() if node.get("Alive")]  # type: ignore[no-untyped-call]
        placements = [
            (
                NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
                node.get("Resources", {}).get("CPU", 1.0),
            )
            for node in alive
        ]
    else:
        if n < 1:
            raise ValueError("start_workers needs n >= 1")
        placements = [("SPREAD", 1.0)] * n
    actors, granted = [], []
    for strategy, node_cpus in placements:
        cpus, worker_threads = cpus_and_threads(num_cpus, threads, node_cpus)
        actors.append(
            actor.options(
                num_cpus=cpus, max_restarts=max_restarts, scheduling_strategy=strategy
            ).remote(port, token, python_udf_inlining, worker_threads, stores, tls)
        )
        granted.append(worker_threads)
    urls = ray.get([a.url.remote() for a in actors])
    workers = RayWorkers(list(urls), actors, token)
    workers.threads = granted
    return workers


def cpus_and_threads(
    num_cpus: float | None, threads: int | None, default_cpus: float
) -> tuple[float, int]:
    """The CPUs an actor reserves and its worker's threads, made to agree:
    either one decides the other, ``default_cpus`` decides both when
    neither is given.

    >>> cpus_and_threads(None, None, 8.0), cpus_and_threads(1.5, None, 8.0)
    ((8.0, 8), (1.5, 2))
    >>> cpus_and_threads(None, 4, 8.0), cpus_and_threads(0.5, 3, 8.0)
    ((4.0, 4), (0.5, 3))
    """
    if num_cpus is not None and num_cpus < 0:
        raise ValueError(f"num_cpus must be at least 0, not {num_cpus}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    if threads is None:
        cpus = default_cpus if num_cpus is None else num_cpus
        return float(cpus), max(1, math.ceil(cpus))
    return float(threads if num_cpus is None else num_cpus), threads
