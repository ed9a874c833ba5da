"""Measuring: how fast and how well projections, placement and whole pipelines run, and the
figures of those measurements (``rnnpanel bench``, benchmarks/). Beside the data path, not on it:
nothing in data, models, compute, store, pipeline, views or app imports from here."""
