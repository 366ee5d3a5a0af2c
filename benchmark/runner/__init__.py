"""The benchmark runner: starts the MCP server and the model gateway, runs each framework's trials in worker
processes, and writes every finished trial to ``results.jsonl`` as it happens.

Entry points: :func:`benchmark.runner.run.run_benchmark` (``afbench run``) and
:func:`benchmark.runner.run.resume_benchmark` (``afbench run --resume DIR``).
"""
