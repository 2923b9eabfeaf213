"""Tools that measure this package's SAC; `perf/` holds the parts of `speed.py`."""
