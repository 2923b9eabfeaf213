"""Many training runs -> learning curves, interval estimates and a results table (rliable).

The package reads what runs left on disk (metrics.jsonl, summary.json, the saved config) and
never W&B, so the same numbers come out offline, years later, from a copied folder:

    runs.py        find run dirs and read one run (RunLog)
    groups.py      --by keys, config labels, and the eval steps a config's runs share
    statistics.py  rliable's IQM / median / mean / optimality gap with bootstrap intervals;
                   the normalization references
    results.py     per config: curve and final estimates; the cross-env aggregate
    figures.py     curves.png and final.png
    tables.py      results.md and results.csv
    report.py      all of the above, in order, for aggregate.py

It imports no torch, gymnasium, W&B or Hydra (tests/test_architecture.py holds it to that).
"""

from __future__ import annotations


class AggregateError(ValueError):
    """Input that cannot be aggregated; aggregate.py prints it as one `error: ...` line."""
