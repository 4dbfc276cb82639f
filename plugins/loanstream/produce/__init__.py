"""Producing: CSV rows as loan events (``events``), the rate (``rate``), the Kafka producer.
May import: lendingclub, kafka, store.
"""
