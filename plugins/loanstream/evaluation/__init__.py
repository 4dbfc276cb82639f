"""The rules measured offline on a LendingClub CSV with known outcomes (``loanstream evaluate``).
May import: produce, scoring.

The file is read as the producer reads it (``produce``) and scored as the sink scores it
(``scoring``); outcomes are read from the CSV, never from the stream.
"""
