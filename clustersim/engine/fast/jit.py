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
from typing import Any

import llvmlite.binding as ll
from llvmlite import ir
from numba import njit
from numba.core import cgutils
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import Compiler

_ENV_PREFIX = "_ZN08NumbaEnv"  # numba's per-function environment globals (core/base.py declare_env_global)


class _InlineOnlyLibrary(JITCodeLibrary):
    """A helper's code library that is only ever linked into (and inlined by) a caller's.

    numba emits machine code for every library it finalizes; a helper's is never run (every caller
    inlines it), so the execution engine receives only the helper's environment global, which numba
    fills in. Its module is still optimised as numba does (the IR callers link in stays the same:
    leaving the optimisation to the caller alone made the AIReSim case ~9 % slower).
    """

    def _finalize_final_module(self) -> None:
        """Hand the engine a module of just the environment globals: nothing here is ever called directly."""
        stub = self._codegen._create_empty_module(self.name)
        for gv in self._final_module.global_variables:
            if gv.name.startswith(_ENV_PREFIX):
                env = ir.GlobalVariable(stub, cgutils.voidptr_t, name=gv.name)
                env.linkage = "common"
                env.initializer = cgutils.get_null_value(env.type.pointee)
        self._codegen._add_module(ll.parse_assembly(str(stub)))
        self._codegen._engine.finalize_object()
        self._finalized = True


class _InlineOnlyCompiler(Compiler):
    """numba's default pipeline, compiling into an ``_InlineOnlyLibrary``."""

    def compile_extra(self, func: Any) -> Any:
        """As numba's, with the helper's library made inline-only beforehand."""
        if self.state.library is None:
            codegen = self.state.targetctx.codegen()
            self.state.library = _InlineOnlyLibrary(codegen, func.__qualname__)
        return super().compile_extra(func)

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
              no_cpython_wrapper=True, no_cfunc_wrapper=True, pipeline_class=_InlineOnlyCompiler)
loop = njit(cache=True, _nrt=False, error_model="numpy", nogil=True)  # type: ignore[call-overload]


def source_fingerprint() -> int:
    """The first 8 bytes of sha256 over every engine/fast/*.py (by name): the source the kernel compiles from."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return int.from_bytes(digest.digest()[:8], "little", signed=True)


FINGERPRINT = source_fingerprint()
