"""The fast engine's compiled serving core: the request-level model of an inference service as a numba loop.

``plan`` turns a service into the loop's parameters, computes its replicas' transitions on the cluster's
timeline (with the Python replica, so a replica means the same in both engines) and reads the loop's
accumulators back into the Python model's measures; ``kernel`` is the loop. Features it lacks
(``plan.compiled_gaps``) are named in the run's serving line, and those scenarios serve in Python.
The kernel lives in its own package so that changing it does not recompile the cluster kernel
(whose cache key hashes the modules of ``engine/fast`` itself).
"""
