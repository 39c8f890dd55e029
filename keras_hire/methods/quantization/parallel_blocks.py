"""Element-wise numpy work split into cache-sized blocks and spread over the machine's cores.

numpy runs an element-wise operation on one core and streams large arrays through memory once per
operation. The interval search applies four or five such operations to every candidate's operand,
so it runs each block of a few hundred thousand elements through all of them while the block is in
cache, with one block per core at a time (numpy releases the GIL inside its loops). Results are
identical to the unblocked operations: each element is computed the same way.
"""

import concurrent.futures
import functools
import os

# float32 elements of one block: 1 MB, a core's share of a typical L2/L3 cache.
BLOCK_ELEMENTS = 1 << 18


@functools.lru_cache(maxsize=1)
def _pool():
    return concurrent.futures.ThreadPoolExecutor(max_workers=cores(), thread_name_prefix="ptq_blocks")


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def for_blocks(function, size, block=BLOCK_ELEMENTS):
    """Calls `function(start, stop)` for consecutive ranges of `range(size)` of `block` items, on every core.

    Returns the results in order. Exceptions propagate to the caller.
    """
    ranges = [(start, min(start + block, size)) for start in range(0, size, max(1, int(block)))]
    if len(ranges) <= 1 or cores() == 1:
        return [function(start, stop) for start, stop in ranges]
    return list(_pool().map(lambda bounds: function(*bounds), ranges))
