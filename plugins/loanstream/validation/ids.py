"""``id`` uniqueness across chunks (GX sees one chunk at a time): 64-bit hashes of every id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loanstream.validation.result import Tally

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from loanstream.validation.scan import FileScan


class IdTracker:
    """64-bit hashes of every id seen so far, sorted, with the data row of each first sighting."""

    def __init__(self) -> None:
        import numpy as np

        self.hashes: np.ndarray = np.empty(0, dtype=np.uint64)
        self.rows: np.ndarray = np.empty(0, dtype=np.int64)

    def add(self, ids: pd.Series, rows: np.ndarray) -> list[tuple[int, str, int]]:
        """Record a chunk's ids (at data ``rows``); return (row, id, first_row) of repeats.

        Only ids seen in earlier chunks are returned (GX checks within the chunk).
        """
        import numpy as np
        import pandas as pd

        present = ids.notna().to_numpy()
        ids, rows = ids[present], rows[present]
        hashes = pd.util.hash_pandas_object(ids, index=False).to_numpy(dtype=np.uint64)
        repeats: list[tuple[int, str, int]] = []
        if len(self.hashes):
            pos = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
            hit = np.flatnonzero(self.hashes[pos] == hashes)
            values = ids.to_numpy()
            repeats = [(int(rows[i]), str(values[i]), int(self.rows[pos[i]])) for i in hit]
        merged = np.concatenate([self.hashes, hashes])
        merged_rows = np.concatenate([self.rows, rows])
        order = np.argsort(merged, kind="stable")
        self.hashes, self.rows = merged[order], merged_rows[order]
        return repeats


def tally_ids(tracker: IdTracker, frame: pd.DataFrame, scan: FileScan, tally: Tally) -> None:
    """Count the chunk's ids that repeat one of an earlier chunk, with examples."""
    import numpy as np

    rows = scan.data_rows(frame.index.to_numpy(dtype=np.int64) + 1)
    repeats = tracker.add(frame["id"], rows)
    tally.unexpected += len(repeats)
    tally.add_examples(
        [{"row": row, "value": value, "first_row": first} for row, value, first in repeats]
    )
