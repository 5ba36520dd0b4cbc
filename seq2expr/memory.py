"""Hand memory freed by a large one-off step (reading millions of sequences) back to the operating system.

Freed memory is not returned by default: pandas 3 keeps its strings in pyarrow buffers whose allocator
(mimalloc) caches freed pages, and glibc keeps freed heap. After a 1M-sequence table is read and encoded
that is ~300 MB of a training process that would otherwise stay resident for the whole run
(``bench/train_speed.py``, training memory).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache


@cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return lib if lib is not None and hasattr(lib, "malloc_trim") else None  # glibc only


def release_memory() -> None:
    """Collect garbage, then return cached free memory of pyarrow's pool and of the C heap to the OS."""
    gc.collect()
    try:
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
