"""LendingClub's files: non-loan lines (``lines``), export layouts (``layout``), the sample generator.
May import: nothing (only the top-level modules).
"""
