"""The SimPy engine against the analytic truths of DESIGN.md (fixed seeds, CI-derived tolerances).

The scenarios and their truths live in analytic_cases.py, shared with the fast engine's tests.
"""
from __future__ import annotations

import analytic_cases as cases


def test_alternating_renewal_weibull_failures_lognormal_repairs():
    cases.check(cases.renewal_weibull_lognormal(), "simpy")


def test_alternating_renewal_lognormal_failures_gamma_repairs():
    cases.check(cases.renewal_lognormal_gamma(), "simpy")


def test_detection_delay_adds_to_every_outage():
    cases.check(cases.detection_delay(), "simpy")


def test_machine_repairman_mmc_n():
    cases.check(cases.machine_repairman_case(), "simpy")


def test_superposition_of_gpu_failures():
    cases.check(cases.superposed_gpus(), "simpy")


def test_superposition_mixed_exponential_and_weibull_modes():
    cases.check(cases.superposed_exponential_and_weibull(), "simpy")


def test_rack_domain_and_node_failures_multiply():
    cases.check(cases.rack_domain_times_node_faults(), "simpy")


def test_power_domain_groups_racks():
    cases.check(cases.power_domain(), "simpy")
