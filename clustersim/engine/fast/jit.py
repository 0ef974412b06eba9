"""How the fast kernel is compiled: numba options of its helpers and entry points, and the
fingerprint of its source that keys the entry points' cache entries (kernel.py).

numba keys a cached function on its own file (and on its closure's contents); the kernel's
entry points are closures over ``FINGERPRINT``, a hash of every engine/fast module, so a change
in any of them recompiles the kernel. Helpers are not cached: they are compiled, and inlined,
only when an entry point compiles.
"""
from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llvmlite.binding as ll
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import Compiler
from numba.extending import intrinsic, models, register_model

_ENV_PREFIX = "_ZN08NumbaEnv"  # numba's per-function environment globals (core/base.py declare_env_global)


class Ref(types.Type):
    """A pointer to a Plan or State (its data representation), as a ``called`` helper receives it.

    A namedtuple passed by value is flattened into every one of its fields (Plan and State: some
    1,000 scalars) at each call; a Ref is one pointer, and the tuple it points to is never written.
    """

    def __init__(self, target: types.BaseTuple) -> None:
        self.target = target
        super().__init__(name=f"Ref[{target}]")


@register_model(Ref)
class _RefModel(models.PrimitiveModel):
    """A pointer to the tuple's data representation."""

    def __init__(self, dmm: Any, fe_type: Ref) -> None:
        super().__init__(dmm, fe_type, dmm.lookup(fe_type.target).get_data_type().as_pointer())


@intrinsic
def address_of(typingctx: Any, tup: types.BaseTuple) -> Any:
    """The address of a copy of ``tup`` in the caller's frame: valid until the caller returns.

    Call it in an entry point itself, never in a helper: inlining ends the copy's lifetime where the
    helper's body ends.
    """
    if not isinstance(tup, types.BaseTuple):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        model = context.data_model_manager[sig.args[0]]
        slot = cgutils.alloca_once(builder, model.get_data_type())
        builder.store(model.as_data(builder, args[0]), slot)
        return builder.ptrtoint(slot, ir.IntType(64))

    return types.int64(tup), codegen


@intrinsic
def ref_to(typingctx: Any, like: types.BaseTuple, address: types.Integer) -> Any:
    """``address`` (from ``address_of``) as a Ref to a tuple of ``like``'s type."""
    if not isinstance(like, types.BaseTuple) or not isinstance(address, types.Integer):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        model = context.data_model_manager[sig.args[0]]
        return builder.inttoptr(args[1], model.get_data_type().as_pointer())

    return Ref(like)(like, address), codegen


@intrinsic
def deref(typingctx: Any, ref: Ref) -> Any:
    """The tuple ``ref`` points to, loaded once (an invariant load: nothing writes it while it is used)."""
    if not isinstance(ref, Ref):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        loaded = builder.load(args[0])
        loaded.set_metadata("invariant.load", builder.module.add_metadata([]))
        return context.data_model_manager[sig.return_type].from_data(builder, loaded)

    return ref.target(ref), codegen


class _KernelLibrary(JITCodeLibrary):
    """A code library optimised as numba does, less what costs the kernel compile time for nothing.

    numba runs a cheap module pipeline before O3 to help its reference-count pruning, which the
    kernel does not use (``_nrt=False``); and LLVM's loop and SLP vectorizers find almost nothing
    to vectorize in event handlers (they cost ~40 % of a first compile and gave no events/s on
    benchmarks/bench_engines.py).
    """

    def _optimize_functions(self, ll_module: Any) -> None:
        """numba's function passes, without the vectorizers."""
        ll_module.data_layout = self._codegen._data_layout
        for function in ll_module.functions:
            manager, builder = self._codegen._function_pass_manager(loop_vectorize=False, slp_vectorize=False)
            manager.run(function, builder)

    def _optimize_final_module(self) -> None:
        """numba's full module pipeline (O3), without the vectorizers and the cheap pre-pass."""
        manager, builder = self._codegen._module_pass_manager(loop_vectorize=False, slp_vectorize=False)
        manager.run(self._final_module, builder)


class _InlineOnlyLibrary(_KernelLibrary):
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


class _CalledLibrary(_InlineOnlyLibrary):
    """An inline-only library whose function callers call rather than inline (LLVM's ``noinline``).

    For helpers that are called from many places: inlined, each call site would hold a copy.
    """

    def add_ir_module(self, ir_module: ir.Module) -> None:
        """As numba's, with every function this library defines marked ``noinline``."""
        for function in ir_module.functions:
            if not function.is_declaration:
                function.attributes.discard("alwaysinline")  # (numba passes forceinline on to callees)
                function.attributes.add("noinline")
        super().add_ir_module(ir_module)


class _KernelCompiler(Compiler):
    """numba's default pipeline, compiling into a ``_KernelLibrary``."""

    library_class: type[_KernelLibrary] = _KernelLibrary

    def compile_extra(self, func: Any) -> Any:
        """As numba's, into a library of this compiler's class."""
        if self.state.library is None:
            codegen = self.state.targetctx.codegen()
            self.state.library = self.library_class(codegen, func.__qualname__)
            self.state.library.enable_object_caching()  # as numba's lowering does for the libraries it creates
        return super().compile_extra(func)


class _InlineOnlyCompiler(_KernelCompiler):
    """numba's default pipeline, compiling into an ``_InlineOnlyLibrary``."""

    library_class = _InlineOnlyLibrary


class _CalledCompiler(_KernelCompiler):
    """numba's default pipeline, compiling into a ``_CalledLibrary``."""

    library_class = _CalledLibrary

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
# - no loop or SLP vectorizer, no refprune pre-pass (_KernelLibrary): first compile ~178 s -> 116 s.
# - the big helpers inlined at dozens of sites are ``called`` instead, Plan and State passed as a
#   pointer each: the loop's IR 143k -> 91k instructions, first compile 116 s -> ~88 s, same events/s.
# (numba's type stubs omit its internal options _nrt, no_cpython_wrapper and no_cfunc_wrapper)
_HELPER_OPTIONS: dict[str, Any] = {"cache": False, "_nrt": False, "error_model": "numpy",
                                   "no_cpython_wrapper": True, "no_cfunc_wrapper": True}
helper = njit(forceinline=True, pipeline_class=_InlineOnlyCompiler, **_HELPER_OPTIONS)
_called = njit(pipeline_class=_CalledCompiler, **_HELPER_OPTIONS)
loop = njit(cache=True, _nrt=False, error_model="numpy", nogil=True,  # type: ignore[call-overload]
            pipeline_class=_KernelCompiler)


# Where State.refs holds the addresses of the replication's Plan and State (set by the entry points).
REF_PLAN, REF_STATE = 0, 1
REF_SLOTS = 2
_BY_REFERENCE = {"plan": REF_PLAN, "st": REF_STATE}  # the parameter names that cross as Refs


def called(body: Callable[..., Any]) -> Any:
    """A helper its callers call instead of inlining: for big helpers called from many places.

    ``body`` is written as any helper, taking ``plan`` and ``st`` by value; what callers call is an
    inlined helper of the same signature that passes those two as Refs (their addresses in
    ``st.refs``) to one compiled copy of ``body``, which loads them back once. ``body`` must take
    ``st`` if it takes ``plan``.
    """
    params = list(inspect.signature(body).parameters)
    if "plan" in params and "st" not in params:
        raise TypeError(f"{body.__name__}: a called helper that takes plan must take st")
    names = ", ".join(params)
    passed = ", ".join(f"ref_to({p}, st.refs[{_BY_REFERENCE[p]}])" if p in _BY_REFERENCE else p for p in params)
    loaded = ", ".join(f"deref({p})" if p in _BY_REFERENCE else p for p in params)
    scope: dict[str, Any] = {"ref_to": ref_to, "deref": deref, "body": helper(body)}
    exec(f"def {body.__name__}({names}):\n    return body({loaded})\n", scope)  # noqa: S102 (generated from names)
    scope["compiled"] = _called(scope[body.__name__])
    exec(f"def {body.__name__}({names}):\n    return compiled({passed})\n", scope)  # noqa: S102
    caller = scope[body.__name__]
    caller.__doc__, caller.__module__, caller.__qualname__ = body.__doc__, body.__module__, body.__qualname__
    return helper(caller)


def source_fingerprint() -> int:
    """The first 8 bytes of sha256 over every engine/fast/*.py (by name): the source the kernel compiles from."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return int.from_bytes(digest.digest()[:8], "little", signed=True)


FINGERPRINT = source_fingerprint()
