"""Write ``tasks/schema.json`` (JSON Schema of a suite file) from the task models."""

from __future__ import annotations

import json

from benchmark.tasks.loader import TASKS_DIR
from benchmark.tasks.models import SuiteFile


def suite_schema() -> str:
    schema = SuiteFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "afbench task suite"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    (TASKS_DIR / "schema.json").write_text(suite_schema(), encoding="utf-8")
    print(TASKS_DIR / "schema.json")
