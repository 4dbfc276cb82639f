"""The Great Expectations (GX Core 1.x) run of the suite on one chunk, and its tallying."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from loanstream.validation.expectations import SUITE_NAME, Check
from loanstream.validation.result import MAX_EXAMPLES, Tally

if TYPE_CHECKING:
    import pandas as pd

    from loanstream.validation.scan import FileScan


def validation_definition(checks: list[Check]) -> Any:
    """An ephemeral GX context with the suite and a whole-dataframe ValidationDefinition."""
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:  # GX logs its own start-up at INFO
        gx_logger.setLevel(logging.WARNING)
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("loanstream").add_dataframe_asset("loan_file")
    batch = asset.add_batch_definition_whole_dataframe("whole_chunk")
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
    for check in checks:
        expectation_class = getattr(gxe, check.expectation)
        column = {"column": check.gx_column} if check.column else {}
        suite.add_expectation(
            expectation_class(
                **column, **check.kwargs, meta={"check": check.name, "kind": check.kind}
            )
        )
    definition = gx.ValidationDefinition(name=f"{SUITE_NAME}_chunk", data=batch, suite=suite)
    return context.validation_definitions.add(definition)


def run_chunk(definition: Any, frame: pd.DataFrame) -> Any:
    """GX's result for one chunk, with up to ``MAX_EXAMPLES`` unexpected indexes per check."""
    return definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES},
    )


def tally_gx(
    gx_result: Any, frame: pd.DataFrame, scan: FileScan, tallies: dict[str, Tally]
) -> None:
    """Add one chunk's GX results to the running tallies."""
    for outcome in gx_result.results:
        tally = tallies[outcome.expectation_config.meta["check"]]
        first = not tally.evaluated
        tally.evaluated = True
        info = outcome.exception_info or {}
        if info.get("raised_exception"):
            tally.details = f"GX raised: {info.get('exception_message')}"
            continue
        result = outcome.result or {}
        if tally.check.column is None:
            missing = result.get("details", {}).get("mismatched", {}).get("missing")
            if first and missing:
                tally.details = "missing required column(s): " + ", ".join(sorted(missing))
                tally.unexpected = len(missing)
            continue
        count = int(result.get("unexpected_count") or 0)
        if count:
            tally.unexpected += count
            indexes = result.get("partial_unexpected_index_list") or []
            tally.add_examples([_example(frame, scan, tally.check.column, i) for i in indexes])


def _example(frame: pd.DataFrame, scan: FileScan, column: str, index: Any) -> dict[str, Any]:
    if isinstance(index, dict):  # GX returns dicts when index columns are named
        index = next(iter(index.values()))
    value = frame.at[index, column]
    return {
        "row": scan.data_row(int(index) + 1),
        "value": None if _is_missing(value) else str(value),
    }


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
