"""The data layer: where the public files live, how their tables are read, the golden-label rule.

Loaders (training records), the evaluation benchmarks, decontamination and the demos all read
the data directory through this package; it imports nothing from ``evaluation`` or ``routers``.
"""
