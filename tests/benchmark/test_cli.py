"""``afbench``'s benchmark commands and their errors, and the server commands passed through unchanged."""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmark.cli import build_parser, main
from benchmark.plugins import available_frameworks
from benchmark.profiles import load_profiles
from mcp_server.cli import build_parser as server_parser

ROOT = Path(__file__).resolve().parents[2]


def test_the_console_script_is_the_benchmark_cli() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["afbench"] == "benchmark.cli:main"


def test_help_lists_benchmark_and_server_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("run", "report", "compare", "serve", "keys", "usage", "loadtest"):
        assert command in text


def test_afbench_alone_prints_the_help_and_version_prints_the_projects_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: afbench") and "afbench run" in text and "--version" in text
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert capsys.readouterr().out.strip() == f"afbench {project['project']['version']}"


def _options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield " ".join((*path, action.option_strings[0] if action.option_strings else action.dest)), action


def test_every_option_of_every_command_has_help_that_gives_its_default() -> None:
    """Both CLIs (the benchmark's and the server's, which ``afbench`` passes through): an option with a default
    says it in its help, so nobody has to read the source to learn what happens when it is left out."""
    missing, undefaulted = [], []
    for parser in (build_parser(), server_parser()):
        for where, action in _options(parser):
            if not action.help:
                missing.append(where)
            elif action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in action.help:
                undefaulted.append(where)
    assert missing == [] and undefaulted == []


def test_run_help_lists_the_builds_profiles_and_suites(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    builds = next(line for line in text.splitlines() if line.startswith("builds"))
    assert all(framework in builds for framework in available_frameworks())
    profiles = next(line for line in text.splitlines() if line.startswith("model profiles"))
    default, known = load_profiles()
    assert f"{default} (default)" in profiles and all(name in profiles for name in known)
    assert "smoke" in text and "core" in text and "resilience" in text


def test_the_readme_says_once_how_to_activate_and_then_calls_every_command_by_name() -> None:
    """One command style: after the activation section, shell snippets call ``afbench``/``python`` by name,
    never ``.venv/bin/...`` (which works only from the checkout); activation lines name the venv's script."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count("**Every other command in this README runs in the project's environment.**") == 1
    shell = "\n".join(re.findall(r"```bash[^\n]*\n(.*?)```", text, re.S))
    commands = [line.split("#")[0] for line in shell.splitlines()]
    assert not [line for line in commands if ".venv/bin/" in line and "/activate" not in line]
    assert any(line.startswith("source .venv/bin/activate") for line in commands)
    assert any(line.startswith("afbench run") for line in commands)


def test_server_commands_are_passed_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "sessions.sqlite"
    assert main(["keys", "create", "--name", "ci", "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("afb_")
    assert main(["keys", "list", "--json", "--db", str(db)]) == 0
    assert [k["name"] for k in json.loads(capsys.readouterr().out)] == ["ci"]
    assert main(["usage", "--trial", "vanilla.x.r1", "--json", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out) == []
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--transport", "carrier-pigeon"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--repeats", "0"], "must be at least 1"),
        (["--concurrency", "two"], "expected a whole number"),
        (["--timeout", "-5"], "must be positive"),
    ],
)
def test_bad_numbers_are_refused_by_the_parser(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *arguments])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--frameworks", "vanilla,langchain"], "unknown framework 'langchain'"),
        (["--model", "gpt-9"], "unknown model profile 'gpt-9'"),
        (["--model-base-url", "http://127.0.0.1:1/v1"], "needs --model-name"),
        (["--suite", "no-such-suite"], "no such suite file"),
        (["--model", "openai"], "set the OPENAI_API_KEY variable"),
    ],
)
def test_run_errors_are_clear_and_start_nothing(
    arguments: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--no-progress", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (out / "results.jsonl").exists()


def test_a_bad_suite_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text("tasks:\n  - id: x1\n    category: c\n    turns: []\n", encoding="utf-8")
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "task 'x1'" in err


def test_run_refuses_to_overwrite_and_resume_needs_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "results.jsonl").write_text("", encoding="utf-8")
    assert main(["run", "--out", str(existing), "--no-progress"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path / "nothing"), "--no-progress"]) == 2
    assert "run.json is missing" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--out", "pyproject.toml"], "is a file; give a folder"),
        (["--suite", "tasks"], "is a folder; give a suite name"),
        (["--suite", "tasks/core"], "not a suite name"),
        (["--suite", "nope.yaml"], "no such suite file"),
        (
            ["--model-base-url", "http://127.0.0.1:1/v1", "--model-name", "m", "--model-api-key-env", "AFB_UNSET"],
            "AFB_UNSET",
        ),
        (["--model", "vllm", "--model-api-key-env", "AFB_UNSET"], "set the AFB_UNSET variable"),
    ],
)
def test_run_mistakes_get_one_clear_line_and_start_nothing(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("AFB_UNSET", raising=False)
    assert main(["run", "--no-progress", *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    "option",
    [["--frameworks", "langgraph"], ["--suite", "core"], ["--model", "openai"], ["--repeats", "3"], ["--out", "x"]],
)
def test_resume_refuses_options_that_would_change_the_plan(
    option: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--resume", str(tmp_path), *option, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert option[0] in err and "only --concurrency, --timeout, --max-tokens, --max-cost and --no-progress" in err


def test_a_suite_file_name_is_found_in_tasks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from benchmark.tasks.loader import TASKS_DIR, suite_path

    monkeypatch.chdir(tmp_path)  # no smoke.yaml here
    assert suite_path("smoke.yaml") == TASKS_DIR / "smoke.yaml"
    (tmp_path / "smoke.yaml").write_text("name: mine\n", encoding="utf-8")
    assert suite_path("smoke.yaml") == Path("smoke.yaml")  # one given where it is wins
