"""events.parquet streamed while the run goes (report.results.EventsFile): the same table as from logs kept whole."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from clustersim.report import results
from clustersim.report.results import EventsFile, events_frame, write_results
from clustersim.runner import run_scenario
from clustersim.scenario import load_scenario
from conftest import CHECKOUT

SCENARIO = CHECKOUT / "docs/examples/complete_example.toml"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SCENARIO, ('simulation.horizon="30 d"', "simulation.replications=3"))


@pytest.fixture(scope="module")
def kept(scenario):
    """The run with every log kept in memory."""
    return run_scenario(scenario, keep_logs=True)


def before(scenario, logs) -> pd.DataFrame:
    """events.parquet as it was written before streaming: the whole frame, to_parquet at once."""
    buffer = io.BytesIO()
    events_frame(scenario, logs).to_parquet(buffer, index=False)
    return pd.read_parquet(io.BytesIO(buffer.getvalue()))


def test_the_streamed_file_holds_the_same_table_as_before(scenario, kept, tmp_path, monkeypatch):
    monkeypatch.setattr(results, "ROW_GROUP_ROWS", 1000)  # several row groups per replication
    events = EventsFile(tmp_path, scenario)
    streamed = run_scenario(scenario, keep_logs=events)
    assert streamed.rows == kept.rows and not streamed.logs
    written = write_results(tmp_path, streamed, with_events=True, events=events)
    assert tmp_path / "events.parquet" in written
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events.parquet", "replications.csv", "scenario.resolved.toml", "summary.json"]  # no spill left
    table = pd.read_parquet(tmp_path / "events.parquet")
    reference = before(scenario, kept.logs)
    pd.testing.assert_frame_equal(table, reference)
    assert table.attrs == reference.attrs
    assert len(table) == streamed.events > 3000
    assert pq.ParquetFile(tmp_path / "events.parquet").num_row_groups > 3


def test_logs_kept_in_memory_write_the_same_file(scenario, kept, tmp_path):
    write_results(tmp_path, kept, with_events=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "events.parquet"), before(scenario, kept.logs))


def test_rows_of_a_replication_the_run_does_not_keep_are_left_out(scenario, kept, tmp_path):
    events = EventsFile(tmp_path, scenario)
    for records in kept.logs[:2]:
        events.rows(records.replication, records.log[:10])
        events.rows(records.replication, records.log[10:])
    events.rows(2, kept.logs[2].log[:50])  # cut short by a stop signal: never kept
    events.keep(1)
    events.keep(0)
    events.close()
    table = pd.read_parquet(tmp_path / "events.parquet")
    assert list(table.replication.unique()) == [1, 0]  # in the order the run kept them
    assert len(table) == kept.logs[0].events + kept.logs[1].events
    np.testing.assert_array_equal(table.time_hours[table.replication == 0], kept.logs[0].log[:, 0])
    assert [p.name for p in tmp_path.iterdir()] == ["events.parquet"]


def test_a_run_with_no_rows_writes_an_empty_table(scenario, tmp_path):
    EventsFile(tmp_path, scenario).close()
    table = pd.read_parquet(tmp_path / "events.parquet")
    pd.testing.assert_frame_equal(table, before(scenario, []))


def test_replications_csv_is_byte_for_byte_what_pandas_wrote(kept):
    """replications.csv is written without pandas; the text must stay what ``DataFrame.to_csv`` gave,
    including NaN (empty), a metric missing from a row, infinities, -0.0 and exponent forms."""
    from dataclasses import replace

    from clustersim.report.results import replications_csv, replications_frame

    assert replications_csv(kept) == replications_frame(kept).to_csv(index=False)
    first, *others = list(kept.estimates)
    odd = [{first: value, **{name: 1.0 for name in others}}
           for value in (float("nan"), float("inf"), -float("inf"), -0.0, 1e-05, 1e16, 0.1, 123456789.125, 3.0)]
    odd.append({name: 2.5 for name in others})  # ``first`` missing: an empty field
    unusual = replace(kept, rows=odd)
    assert replications_csv(unusual) == replications_frame(unusual).to_csv(index=False)
