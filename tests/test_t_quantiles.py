"""The tabulated Student-t quantile is scipy's, double for double, and asks scipy off the table."""
from __future__ import annotations

from scipy.special import stdtrit

from clustersim.t_quantiles import T975, t_quantile


def test_every_tabulated_quantile_is_scipys_own_double() -> None:
    assert len(T975) == 1000
    assert [t_quantile(df, 0.975) for df in range(1, 1001)] == [float(stdtrit(df, 0.975)) for df in range(1, 1001)]


def test_off_the_table_it_is_scipys_quantile() -> None:
    for df, p in ((1001, 0.975), (5000, 0.975), (7, 0.95), (30, 0.995), (3, 0.5)):
        assert t_quantile(df, p) == float(stdtrit(df, p))
