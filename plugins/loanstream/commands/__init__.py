"""The ``loanstream`` sub-commands, one module each with ``register(subparsers)`` and ``run(args)``.
May import: validation, produce, scoring, evaluation, sink, runs, monitoring, lendingclub,
kafka, store.
"""
