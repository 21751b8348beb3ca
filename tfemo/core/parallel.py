"""One function over many items in worker processes, results in input order, bounded look-ahead.

Workers are spawned, never forked: a forked TensorFlow process can hang. At most
`LOOKAHEAD * workers` items are in flight, so memory stays bounded however long the list is,
and a consumer that stops early cancels what has not started.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")
LOOKAHEAD = 4  # items in flight per worker


def ordered_map(function: Callable[[Item], Outcome], items: Sequence[Item], workers: int,
                initializer: Callable[..., None], initargs: tuple[Any, ...] = ()
                ) -> Iterator[Outcome]:
    """`function(item)` for every item, in order; `initializer(*initargs)` once per process.

    With one worker (or one item) everything runs in this process, with no pool at all.
    """
    if workers <= 1 or len(items) <= 1:
        initializer(*initargs)
        for item in items:
            yield function(item)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=initializer,
                             initargs=initargs) as pool:
        pending: list[Future] = []
        next_item = 0
        try:
            while next_item < len(items) or pending:
                while next_item < len(items) and len(pending) < LOOKAHEAD * workers:
                    pending.append(pool.submit(function, items[next_item]))
                    next_item += 1
                yield pending.pop(0).result()
        finally:
            for future in pending:
                future.cancel()
