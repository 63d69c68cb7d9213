"""What the CLI, the notebooks and the tests call: the lab's use cases, above the three engines.

Nothing below this package imports it (an import-linter contract in `make lint` keeps it so).
"""

from lastunit.usecases.race import race_one, verdict
from lastunit.usecases.record import combined_audit, exit_code, record_run
from lastunit.usecases.saga import installed, run_saga, run_saga_sim, settle

__all__ = ["combined_audit", "exit_code", "installed", "race_one", "record_run", "run_saga", "run_saga_sim",
           "settle", "verdict"]
