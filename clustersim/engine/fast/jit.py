"""How the fast kernel is compiled: numba options of its helpers and entry points, and the
fingerprint of its source that keys the entry points' cache entries (kernel.py).

numba keys a cached function on its own file (and on its closure's contents); the kernel's
entry points are closures over ``FINGERPRINT``, a hash of every engine/fast module, so a change
in any of them recompiles the kernel. Helpers are not cached: they are compiled, and inlined,
only when an entry point compiles.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from numba import njit

# How the kernel is compiled (each measured on benchmarks/bench_engines.py, one thread):
# - no reference counting (``_nrt=False``) in the event loop and its helpers: numba otherwise
#   counts a reference to a state array at each access, atomically — 80 % of the run time
#   (1.2 M events/s -> 6.5 M). The arrays live for the whole call; only _new_state allocates.
# - helpers inlined into the loop (``forceinline``): a call passes every field of Plan and
#   State, some 300 values (6.5 -> 22 M events/s).
# - helpers without Python wrappers: only the loop calls them (first compile 30 s -> 21 s).
# - helpers not cached (``cache=False``): forceinline links the callee's own library, which numba
#   would load from the helper's cache entry (keyed on the helper's file alone) — possibly stale.
# - numpy's error model: a division by zero gives inf (a job running on no member never finishes)
#   instead of raising, which code without reference counting cannot do cleanly.
# - no helper calls itself, directly or through others: numba cannot inline a cycle (the job's
#   steps between two waits run as one loop over continuations, _job_go).
# - the loop is called from Python, not from a jitted caller: numba re-optimises every library it
#   links into a caller, which cost the loop a second LLVM pass (first compile 107 s -> 81 s).
# (numba's type stubs omit its internal options _nrt, no_cpython_wrapper and no_cfunc_wrapper)
helper = njit(cache=False, _nrt=False, error_model="numpy", forceinline=True,  # type: ignore[call-overload]
              no_cpython_wrapper=True, no_cfunc_wrapper=True)
loop = njit(cache=True, _nrt=False, error_model="numpy", nogil=True)  # type: ignore[call-overload]


def source_fingerprint() -> int:
    """The first 8 bytes of sha256 over every engine/fast/*.py (by name): the source the kernel compiles from."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return int.from_bytes(digest.digest()[:8], "little", signed=True)


FINGERPRINT = source_fingerprint()
