"""``afbench export``: a run's traces as OTLP/JSON that the OpenTelemetry protobuf schema accepts, with a span for
every trial, turn, model call and tool call of the records, parented inside their trial's trace, named and
attributed by the GenAI semantic conventions."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmark.cli import main
from tests.benchmark.test_builds import smoke_run


def _as_protobuf_json(document: dict[str, Any]) -> dict[str, Any]:
    """OTLP/JSON writes ids as hex, protobuf's JSON mapping as base64: the one difference to undo."""
    converted: dict[str, Any] = json.loads(json.dumps(document))
    for resource in converted["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return converted


def _attributes(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


async def test_the_export_is_valid_otlp_with_one_span_per_recorded_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = await smoke_run("vanilla", tmp_path)
    out = tmp_path / "spans.json"
    assert main(["export", str(outcome.run_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    document = json.loads(out.read_text(encoding="utf-8"))
    request = json_format.ParseDict(_as_protobuf_json(document), ExportTraceServiceRequest())
    spans = [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    raw = [span for rs in document["resourceSpans"] for ss in rs["scopeSpans"] for span in ss["spans"]]
    assert len(spans) == len(raw)
    operations = Counter(_attributes(span)["gen_ai.operation.name"] for span in raw)
    trials = outcome.trials
    assert operations["chat"] == sum(len(t.model_calls) for t in trials)
    assert operations["execute_tool"] == sum(len(t.tool_calls) for t in trials)
    assert operations["invoke_agent"] == len(trials) + sum(len(t.turns) for t in trials)
    assert len({span["traceId"] for span in raw}) == len(trials)  # one trace per trial
    ids = {(span["traceId"], span["spanId"]) for span in raw}
    assert len(ids) == len(raw)
    assert all((span["traceId"], span["parentSpanId"]) in ids for span in raw if "parentSpanId" in span)
    chat = next(span for span in raw if span["name"].startswith("chat "))
    attributes = _attributes(chat)
    assert chat["kind"] == 3 and attributes["gen_ai.request.model"] == "afbench-scripted"
    assert json.loads(attributes["gen_ai.input.messages"])[0]["role"] == "system"
    assert int(attributes["gen_ai.usage.input_tokens"]) > 0
    tool = next(span for span in raw if span["name"] == "execute_tool run_python")
    assert "year % 400" in json.loads(_attributes(tool)["gen_ai.tool.call.arguments"])["code"]
    assert int(tool["endTimeUnixNano"]) >= int(tool["startTimeUnixNano"])
    again = tmp_path / "again.json"
    assert main(["export", str(outcome.run_dir), "--out", str(again)]) == 0
    assert again.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")  # deterministic ids


def test_exporting_a_folder_that_is_no_run_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
