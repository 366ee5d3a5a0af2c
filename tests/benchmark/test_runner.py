"""The runner's parts without processes: the results file and resume, trial plans, model profiles, and
turning gateway records and server rows into a trial's record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmark.gateway import CallRecord, InfraEvent
from benchmark.profiles import ModelProfile, ProfileError, load_profiles, resolve_profile
from benchmark.records import (
    RESULTS_FILE,
    ModelCall,
    RecordError,
    TrialRecord,
    TurnOutcome,
    append_trial,
    prune_for_resume,
    read_trials,
)
from benchmark.runner.collect import busy_seconds, tool_calls, trial_record
from benchmark.runner.model_gateway import infra_message, model_calls
from benchmark.runner.plan import PlannedTrial, plan_trials
from benchmark.runner.protocol import TrialReport
from benchmark.runner.run import RunError, resolve_frameworks
from benchmark.tasks.models import Suite, Task

CALC = {
    "id": "calc",
    "category": "calculator",
    "turns": [
        {
            "user": "What is 15% of 240?",
            "expect": {
                "route": "operational_agent",
                "tool_calls": [{"name": "calculator"}],
                "answer": [{"number": 36}],
            },
            "script": {"steps": [{"call": "calculator", "arguments": {"expression": "15% of 240"}}], "answer": "36"},
        },
        {
            "user": "And 20%?",
            "expect": {
                "route": "operational_agent",
                "tool_calls": [{"name": "calculator"}],
                "answer": [{"number": 48}],
            },
            "script": {"steps": [{"call": "calculator", "arguments": {"expression": "20% of 240"}}], "answer": "48"},
        },
    ],
}


def suite(*ids: str) -> Suite:
    return Suite.model_validate({"name": "s", "tasks": [{**CALC, "id": i} for i in ids]})


def record(trial_id: str, status: str = "completed") -> TrialRecord:
    return TrialRecord(
        trial_id=trial_id,
        framework="vanilla",
        task_id=trial_id.split(".")[1],
        category="c",
        repeat=1,
        status=status,  # type: ignore[arg-type]
        infra_error="timeout" if status == "infra_error" else None,
        started_at=1.0,
        wall_s=0.5,
    )


# --- results file -------------------------------------------------------------------------------------------


def test_results_are_read_back_and_a_cut_off_line_is_no_trial(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILE
    assert read_trials(path) == []
    append_trial(path, record("vanilla.a.r1"))
    append_trial(path, record("vanilla.b.r1"))
    with path.open("a", encoding="utf-8") as handle:
        handle.write(record("vanilla.c.r1").model_dump_json()[:40])
    assert [t.trial_id for t in read_trials(path)] == ["vanilla.a.r1", "vanilla.b.r1"]


def test_prune_for_resume_keeps_completed_trials_once(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILE
    append_trial(path, record("vanilla.a.r1"))
    append_trial(path, record("vanilla.b.r1", "infra_error"))
    append_trial(path, record("vanilla.c.r1", "infra_error"))
    append_trial(path, record("vanilla.c.r1"))  # retried after the infrastructure error: the last line counts
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"trial_id": "vanilla.d.r1", "framew')
    kept = prune_for_resume(path)
    assert sorted(t.trial_id for t in kept) == ["vanilla.a.r1", "vanilla.c.r1"]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(line.endswith("}") for line in lines)
    assert path.read_text(encoding="utf-8").endswith("\n")
    assert prune_for_resume(tmp_path / "fresh.jsonl") == []  # a new run starts from an empty file


def test_a_garbled_complete_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILE
    append_trial(path, record("vanilla.a.r1"))
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"not": "a trial"}\n')
    with pytest.raises(RecordError, match=r"results\.jsonl:2"):
        read_trials(path)


# --- plans --------------------------------------------------------------------------------------------------


def test_plan_ids_are_unique_and_framework_major() -> None:
    plan = plan_trials(suite("ta", "tb"), ["vanilla", "crewai"], repeats=2)
    ids = [p.trial_id for p in plan]
    assert len(ids) == len(set(ids)) == 8
    assert ids[:4] == ["vanilla.ta.r1", "vanilla.tb.r1", "vanilla.ta.r2", "vanilla.tb.r2"]
    with pytest.raises(ValueError):
        plan_trials(suite("ta"), ["vanilla"], repeats=0)


def test_frameworks_are_resolved_against_the_builds_present(tmp_path: Path) -> None:
    assert "vanilla" in resolve_frameworks("all")
    assert resolve_frameworks("vanilla, vanilla") == ["vanilla"]
    (tmp_path / "crewai.py").write_text("BUILD = None\n", encoding="utf-8")
    assert resolve_frameworks("all", tmp_path) == ["crewai"]
    with pytest.raises(RunError, match="unknown framework 'nope'"):
        resolve_frameworks("vanilla,nope")
    with pytest.raises(RunError, match="no build for 'vanilla'"):
        resolve_frameworks("vanilla", tmp_path)
    with pytest.raises(RunError, match="at least one"):
        resolve_frameworks(" , ")
    with pytest.raises(RunError, match="no framework builds"):
        resolve_frameworks("all", tmp_path / "empty")


# --- model profiles -----------------------------------------------------------------------------------------


def test_the_shipped_profiles() -> None:
    default, profiles = load_profiles()
    assert default == "scripted" and profiles["scripted"].backend == "scripted"
    assert {"openai", "vllm", "ollama", "llamacpp"} <= set(profiles)
    assert profiles["vllm"].base_url == "http://localhost:8000/v1"
    assert profiles["ollama"].base_url == "http://localhost:11434/v1"
    assert profiles["llamacpp"].base_url == "http://localhost:8080/v1"
    openai = profiles["openai"]
    assert openai.base_url == "https://api.openai.com/v1" and openai.api_key_env == "OPENAI_API_KEY" and openai.priced


def test_hosted_profile_needs_its_key_and_prices_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    profile = resolve_profile("openai")
    with pytest.raises(ProfileError, match="set the OPENAI_API_KEY variable"):
        profile.api_key()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert profile.api_key() == "sk-test"
    assert profile.cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    assert resolve_profile("vllm").api_key() == "" and resolve_profile("vllm").cost(10, 10) is None


def test_custom_endpoint_and_overrides() -> None:
    custom = resolve_profile(base_url="http://127.0.0.1:9000/v1", model_name="qwen", api_key_env="MY_KEY")
    assert (custom.name, custom.backend, custom.model, custom.api_key_env) == ("custom", "upstream", "qwen", "MY_KEY")
    with pytest.raises(ProfileError, match="needs --model-name"):
        resolve_profile(base_url="http://127.0.0.1:9000/v1")
    with pytest.raises(ProfileError, match="http"):
        resolve_profile(base_url="ftp://host/v1", model_name="m")
    assert resolve_profile("ollama", model_name="llama3.1").model == "llama3.1"
    with pytest.raises(ProfileError, match="scripted"):
        resolve_profile("scripted", base_url="http://127.0.0.1:9000/v1")
    with pytest.raises(ProfileError, match="unknown model profile 'gpt5'"):
        resolve_profile("gpt5")
    assert ModelProfile.from_info(custom.info()) == custom


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profiles: [1, 2]", "expected a mapping with 'profiles'"),
        ("default: x\nprofiles:\n  a: {backend: scripted, model: m}", "default profile 'x' is not defined"),
        ("profiles:\n  a: {backend: upstream, model: m}", "needs base_url"),
        ("profiles:\n  a: {backend: scripted, model: m, price_input_per_1m: -1}", "price_input_per_1m"),
        ("profiles:\n  a: {backend: scripted, model: m, colour: red}", "colour"),
        ("profiles: {a: [", "cannot read model profiles"),
    ],
)
def test_bad_profile_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=message):
        load_profiles(path)


# --- collecting a trial -------------------------------------------------------------------------------------


def gateway_record(sequence: int, started_at: float, latency: float = 0.5, **extra: Any) -> CallRecord:
    fields: dict[str, Any] = {
        "trial_id": "vanilla.calc.r1",
        "sequence": sequence,
        "started_at": started_at,
        "latency_s": latency,
        "backend": "scripted",
        "model": "m",
        "stream": False,
        "message_count": 2,
        "tools_offered": [],
        "tool_choice": None,
        "response_format": None,
        "input_tokens": 100,
        "output_tokens": 10,
        "tokens_source": "counted",
        "tool_calls": [],
        "finish_reason": "stop",
        "status": 200,
    }
    return CallRecord.model_validate(fields | extra)


def turn(index: int, started_at: float) -> TurnOutcome:
    return TurnOutcome(
        index=index,
        user="u",
        text="36" if index == 0 else "48",
        agent="operational_agent",
        started_at=started_at,
        ended_at=started_at + 5,
        wall_s=5.0,
    )


def row(tool: str, latency_ms: float = 200.0, started_at: float = 0.0, **arguments: Any) -> dict[str, Any]:
    return {
        "tool": tool,
        "arguments": arguments,
        "outcome": "ok",
        "error_code": None,
        "latency_ms": latency_ms,
        "started_at": started_at,
    }


def test_calls_and_rows_are_split_by_turn() -> None:
    turns = [turn(0, 100.0), turn(1, 110.0)]
    calls = model_calls([gateway_record(1, 101.0), gateway_record(2, 111.0), gateway_record(3, 112.0)], [100.0, 110.0])
    assert [c.turn for c in calls] == [0, 1, 1]
    # Each logged tool call belongs to the turn that was running when it reached the server, as model calls do.
    rows = [row("calculator", started_at=102.0), row("calculator", started_at=110.5), row("search", started_at=113.0)]
    assert [c.turn for c in tool_calls(rows, turns)] == [0, 1, 1]
    late = tool_calls([*rows, row("calculator", started_at=200.0)], turns)  # after the last turn ended: the last
    assert [c.turn for c in late] == [0, 1, 1, 1]
    assert [(c.tool, c.turn) for c in tool_calls([row("calculator")], [])] == [("calculator", 0)]  # start failed


def test_model_time_counts_overlapping_calls_once() -> None:
    def call(start: float, latency: float) -> ModelCall:
        return ModelCall(
            sequence=1,
            turn=0,
            started_at=start,
            latency_s=latency,
            input_tokens=0,
            output_tokens=0,
            tokens_source="counted",
            status=200,
        )

    assert busy_seconds([]) == 0.0
    assert busy_seconds([call(0, 1), call(0.5, 1), call(3, 1)]) == pytest.approx(2.5)


def test_a_trial_record_scores_and_times_the_trial() -> None:
    task = Task.model_validate(CALC)
    planned = PlannedTrial("vanilla", task, 1)
    report = TrialReport(
        trial_id=planned.trial_id, turns=[turn(0, 100.0), turn(1, 110.0)], wall_s=12.0, peak_rss_mb=90.0
    )
    calls = [gateway_record(1, 101.0, 1.0), gateway_record(2, 111.0, 2.0)]
    profile = resolve_profile("openai")
    result = trial_record(
        planned,
        started_at=99.0,
        report=report,
        calls=calls,
        usage_rows=[row("calculator", 500.0, started_at=102.0), row("calculator", 500.0, started_at=112.0)],
        profile=profile,
        worker=None,
    )
    assert result.status == "completed" and result.passed and result.trial_id == "vanilla.calc.r1"
    assert (result.tokens_in, result.tokens_out, result.tokens_source) == (200, 20, "counted")
    assert (result.model_time_s, result.tool_time_s, result.overhead_s) == (3.0, 1.0, 8.0)
    assert result.cost_usd == pytest.approx((200 * 0.15 + 20 * 0.60) / 1e6)


def test_gateway_failures_make_an_infrastructure_error_not_a_task_failure() -> None:
    task = Task.model_validate(CALC)
    planned = PlannedTrial("vanilla", task, 1)
    failed = gateway_record(
        1,
        101.0,
        status=503,
        error={"status": 503, "message": "upstream answered HTTP 503"},
        infrastructure=[
            InfraEvent(kind="retry", status=503, wait_s=1.0, message="503"),
            InfraEvent(kind="error", status=503, message="upstream answered HTTP 503 (after 4 attempts)"),
        ],
    )
    assert infra_message([failed]) == (
        "model gateway call 1 failed (HTTP 503): upstream answered HTTP 503 (after 4 attempts)"
    )
    assert model_calls([failed], [100.0])[0].retries == 1
    report = TrialReport(
        trial_id=planned.trial_id,
        turns=[turn(0, 100.0).model_copy(update={"error": "InternalServerError: 503"})],
        wall_s=8.0,
        peak_rss_mb=90.0,
    )
    result = trial_record(
        planned,
        started_at=99.0,
        report=report,
        calls=[failed],
        usage_rows=[],
        profile=resolve_profile("scripted"),
        worker=None,
    )
    assert result.status == "infra_error" and "HTTP 503" in (result.infra_error or "")
    assert result.build_error == "turn 1: InternalServerError: 503"
    bad_request = gateway_record(1, 101.0, status=400, error={"status": 400, "message": "bad tool_choice"})
    assert infra_message([bad_request]) is None  # the framework's own malformed request is its failure


def test_a_model_call_keeps_what_the_model_asked_each_tool_for() -> None:
    asked = [
        {"id": "c1", "name": "sql_query", "arguments": {"sql": "SELECT 1"}},
        {"id": "c2", "name": "calculator", "arguments": "{not json"},  # kept as written
    ]
    [call] = model_calls([gateway_record(1, 101.0, tool_calls=asked, finish_reason="tool_calls")], [100.0])
    assert call.tool_calls == ["sql_query", "calculator"]
    assert call.tool_arguments == [{"sql": "SELECT 1"}, "{not json"]
