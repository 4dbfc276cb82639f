"""One module per ``loanstream`` sub-command; each has ``register(subparsers)`` and ``run(args)``."""
