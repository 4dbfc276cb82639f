"""Producing: CSV rows as loan events (``events``; typed ``loan_application`` bodies: ``typed``),
the rate (``rate``), the Kafka producer.
May import: lendingclub, kafka, store, contract.
"""
