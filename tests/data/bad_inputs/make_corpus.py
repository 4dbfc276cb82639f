"""Regenerate the small bad-input corpus: ``python tests/data/bad_inputs/make_corpus.py``.

Synthetic rows in the LendingClub export layout (no real loan data). The expected outcome and
message of each file is the table in ``tests/unit/test_validation_corpus.py``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADER = (
    "id,member_id,loan_amnt,term,int_rate,installment,grade,sub_grade,emp_title,emp_length,"
    "home_ownership,annual_inc,verification_status,issue_d,loan_status,purpose,title,addr_state,"
    "dti,earliest_cr_line,revol_util"
)
GOOD_ROWS = """\
1001,,10000.0, 36 months,11.53,329.98,B,B5,Teacher,10+ years,RENT,55000.0,Verified,Sep-2016,Fully Paid,debt_consolidation,Debt consolidation,CA,18.2,Aug-1998,45.1
1002,,24000.0, 60 months,17.27,599.95,D,D2,"Nurse, RN",3 years,MORTGAGE,82000.0,Source Verified,Jan-2016,Charged Off,credit_card,Credit card refinancing,TX,25.04,Apr-2001,77.3
1003,,5000.0, 36 months,7.89,156.43,A,A5,,,OWN,40000.0,Not Verified,Mar-2017,Current,car,Car financing,NY,9.4,Nov-2005,12.0
1004,,35000.0, 60 months,22.45,975.12,E,E4,Driver ,< 1 year,ANY,120000.0,Verified,Jul-2015,Does not meet the credit policy. Status:Fully Paid,small_business,Business,WA,31.7,Feb-1989,88.8
1005,,1200.0, 36 months,13.99,41.01,C,C3,Clerk,5 years,MORTGAGE,30000.0,Not Verified,Dec-2017,In Grace Period,medical,Medical expenses,FL,14.0,Oct-2010,30.5
"""
COLUMNS = HEADER.split(",")
GOOD = list(csv.reader(io.StringIO(GOOD_ROWS)))


def render(rows: list[list[str]], columns: list[str] = COLUMNS, delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def edit(*changes: tuple[int, str, str], rows: list[list[str]] | None = None) -> list[list[str]]:
    """A copy of ``rows`` (default GOOD) with cells changed: (1-based data row, column, value)."""
    rows = [list(r) for r in (rows or GOOD)]
    for row, column, value in changes:
        rows[row - 1][COLUMNS.index(column)] = value
    return rows


def files() -> dict[str, bytes]:
    without_purpose = [c for c in COLUMNS if c != "purpose"]
    drop = COLUMNS.index("purpose")
    good = render(GOOD)
    newline = edit((2, "title", "Credit card\nrefinancing, part 2"))
    return {
        "good.csv": good.encode(),
        "empty.csv": b"",
        "header_only.csv": render([]).encode(),
        "missing_column.csv": render(
            [r[:drop] + r[drop + 1 :] for r in GOOD], without_purpose
        ).encode(),
        "semicolon.csv": render(GOOD, delimiter=";").encode(),
        "latin1.csv": render(edit((3, "emp_title", "Caf\u00e9 owner"))).encode("latin-1"),
        "crlf.csv": good.replace("\n", "\r\n").encode(),
        "cr_only.csv": good.replace("\n", "\r").encode(),
        "duplicate_ids.csv": render(edit((4, "id", "1002"))).encode(),
        "negative_amount.csv": render(edit((3, "loan_amnt", "-5000.0"))).encode(),
        "text_in_numeric.csv": render(
            edit((2, "annual_inc", "fifty thousand"), (5, "int_rate", "n/a"))
        ).encode(),
        "embedded_newline.csv": render(newline).encode(),
        "embedded_newline_then_bad.csv": render(
            edit((4, "term", "48 months"), rows=newline)
        ).encode(),
        "percent_and_old_dates.csv": render(
            edit(
                (1, "int_rate", "11.53%"),
                (2, "revol_util", "77.3%"),
                (3, "earliest_cr_line", "Nov-05"),
                (4, "term", "60 months"),
            )
        ).encode(),
        "real_outliers.csv": render(
            edit((1, "dti", "999.0"), (2, "annual_inc", "0.0"), (3, "revol_util", "128.9"))
        ).encode(),
        "unknown_categories.csv": render(
            edit((2, "loan_status", "Paid-ish"), (5, "home_ownership", "CASTLE"))
        ).encode(),
        # row 3 opens a quote that never closes
        "unterminated_quote.csv": (
            render(GOOD[:2]) + '1003,,5000.0, 36 months,7.89,156.43,A,A5,"Clerk,,OWN\n'
        ).encode(),
        # row 2 loses the quotes around "Nurse, RN": 22 fields, everything after shifts
        "ragged_row.csv": (
            render(GOOD[:1]) + ",".join(GOOD[1]) + "\n" + render(GOOD[2:]).split("\n", 1)[1]
        ).encode(),
    }


def main() -> None:
    for name, data in files().items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
