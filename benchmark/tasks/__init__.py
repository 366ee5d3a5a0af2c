"""Task suites: YAML files in ``tasks/`` validated against :mod:`benchmark.tasks.models`."""

from benchmark.tasks.loader import SuiteError, load_suite, suite_path, suite_yaml
from benchmark.tasks.models import Suite, Task, Turn

__all__ = ["Suite", "SuiteError", "Task", "Turn", "load_suite", "suite_path", "suite_yaml"]
