"""Export tables: every state's sequence, step, word, position and EP, read back as written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnpanel.views.export import sequence_table, states_table, table_bytes
from tests.views.test_sequence_views import make_sample


def test_a_sequence_table_has_one_row_per_step_in_time_order():
    sample = make_sample(3)
    s = 2
    frame = sequence_table(sample, s)
    rows = sample.sequence_slice(s)
    assert list(frame["t"]) == list(range(rows.stop - rows.start))
    assert set(frame["sequence"]) == {int(sample.sequence_ids[s])}
    assert list(frame["word"]) == list(sample.words[rows])
    np.testing.assert_allclose(frame[["x", "y"]].to_numpy(), sample.xy[rows])
    np.testing.assert_allclose(frame[[f"P({n})" for n in sample.class_names]].to_numpy(), sample.ep[rows], rtol=1e-6)
    assert np.isnan(frame["step_distance"].iloc[-1])


def test_states_table_keeps_only_the_masked_states():
    sample = make_sample()
    mask = np.zeros(sample.n_states, dtype=bool)
    mask[[1, 6]] = True
    frame = states_table(sample, mask)
    assert list(frame["word"]) == ["w1", "w6"] and list(frame["t"]) == [1, 1]
    assert len(states_table(sample)) == sample.n_states


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_read_back_as_written_markup_included(fmt):
    sample = make_sample()
    frame = states_table(sample)
    frame.loc[0, "word"] = '<script>alert("x")</script>, & "quoted"'
    data = table_bytes(frame, fmt)
    back = pd.read_csv(data) if fmt == "csv" else pd.read_parquet(data)
    assert back["word"].iloc[0] == frame["word"].iloc[0]
    np.testing.assert_allclose(back["x"], frame["x"])


def test_an_unknown_format_is_named():
    with pytest.raises(ValueError, match="csv, parquet"):
        table_bytes(pd.DataFrame({"a": [1]}), "xlsx")
