"""The loanstream operators, one module each: a few lines around one core function.

Owns the Airflow side of each pipeline step; may import ``loanstream.airflow`` (hooks, assets,
memory) and the core. Bad input fails the task with ``AirflowFailException`` (no retry can fix
it); transient trouble (broker or database down) raises ordinary errors, so retries apply.
"""

from loanstream.airflow.operators.create_topic import CreateTopicOperator
from loanstream.airflow.operators.produce_events import ProduceEventsOperator
from loanstream.airflow.operators.redrive import RedriveDeadLettersOperator
from loanstream.airflow.operators.score_events import ScoreEventsOperator
from loanstream.airflow.operators.summarize_run import SummarizeRunOperator
from loanstream.airflow.operators.validate_csv import ValidateCsvOperator

__all__ = [
    "CreateTopicOperator",
    "ProduceEventsOperator",
    "RedriveDeadLettersOperator",
    "ScoreEventsOperator",
    "SummarizeRunOperator",
    "ValidateCsvOperator",
]
