"""A pipeline run: its parameters, gate, lag, read model (``figures``), summary, watcher, reports.
May import: produce, sink, kafka, store.
"""
