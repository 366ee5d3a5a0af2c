"""The viewer's pages, rendered on the server: the runs, a run (leaderboard, filters, the task × framework
matrix, a comparison form), a trial (conversation, timeline, every call in full) and a side-by-side comparison."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from benchmark.records import TrialRecord
from benchmark.report.formatting import money, seconds
from benchmark.report.leaderboard import leaderboard
from benchmark.runner.traces import ModelCallLine, ToolCallLine, TraceLine
from benchmark.view._style import CSS
from benchmark.view._trace_read import asker, reply_of, request_of, requested_calls, text_of, tool_names, tool_results
from benchmark.view.runs import Run

OUTCOMES = ("all", "passed", "failed", "infra_error")
SORTS = {"task": "task", "category": "category, then task", "failures": "most failures first"}


def _q(text: str) -> str:
    return quote(text, safe="")


def trial_url(run: Run, trial_id: str) -> str:
    return f"/runs/{_q(run.key)}/trials/{_q(trial_id)}"


def page(title: str, body: str, crumbs: Sequence[tuple[str, str]] = ()) -> str:
    nav = " › ".join(['<a href="/">runs</a>', *(f'<a href="{escape(u)}">{escape(t)}</a>' for t, u in crumbs)])
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · afbench view</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
        f"<body><nav>{nav}</nav><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """``rows`` hold HTML already escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _board(run: Run) -> str:
    board = leaderboard(run.summary)
    if not board.rows:
        return '<p class="muted">No trial has finished yet.</p>'
    return _table(board.header, [[escape(c) for c in row] for row in board.rows], "board")


def _status(trial: TrialRecord) -> str:
    return "infra" if trial.status == "infra_error" else ("pass" if trial.passed else "fail")


def _reason(trial: TrialRecord) -> str:
    if trial.status == "infra_error":
        return f"infrastructure error: {trial.infra_error}"
    return "passed" if trial.passed else (trial.score.reason if trial.score and trial.score.reason else "failed")


# -- runs ---------------------------------------------------------------------------------------------------


def runs_page(runs: Sequence[Run]) -> str:
    parts = []
    for run in runs:
        totals, info = run.summary["totals"], run.info
        parts.append(
            f'<h2><a href="/runs/{_q(run.key)}">{escape(run.key)}</a></h2><p class="meta">suite '
            f"<code>{escape(info.suite)}</code>, model <code>{escape(info.model.name)}</code>, "
            f"{totals['trials']} trials, {totals['passed']} passed, {totals['infra_errors']} infrastructure errors; "
            f"started {escape(info.created_at)}</p>{_board(run)}"
        )
    return page("afbench runs", "".join(parts))


# -- a run --------------------------------------------------------------------------------------------------


def _select(name: str, options: Sequence[str], chosen: str, labels: dict[str, str] | None = None) -> str:
    items = "".join(
        f'<option value="{escape(o)}"{" selected" if o == chosen else ""}>{escape((labels or {}).get(o, o))}</option>'
        for o in options
    )
    return f'<select name="{escape(name)}" id="{escape(name)}">{items}</select>'


def _keep(trial: TrialRecord, outcome: str) -> bool:
    return outcome == "all" or _status(trial) == {"passed": "pass", "failed": "fail", "infra_error": "infra"}[outcome]


def run_page(run: Run, framework: str, category: str, outcome: str, sort: str, builds: Sequence[str] = ()) -> str:
    """The run's leaderboard, the comparison form (``builds``: every ``run/framework`` the viewer has; default
    this run's) and the task × framework matrix, filtered and sorted."""
    trials = list(run.trials.values())
    frameworks = [f for f in run.frameworks if framework in ("all", f)]
    categories = sorted({t.category for t in trials})
    cells: dict[tuple[str, str], list[TrialRecord]] = {}
    task_category: dict[str, str] = {}
    for trial in sorted(trials, key=lambda t: t.repeat):
        task_category[trial.task_id] = trial.category
        cells.setdefault((trial.task_id, trial.framework), []).append(trial)
    tasks = [t for t in task_category if category in ("all", task_category[t])]

    def shown(task: str, fw: str) -> list[TrialRecord]:
        return [t for t in cells.get((task, fw), []) if _keep(t, outcome)]

    tasks = [t for t in tasks if any(shown(t, fw) for fw in frameworks)]
    failures = {t: sum(not x.passed for fw in frameworks for x in cells.get((t, fw), [])) for t in tasks}
    if sort == "category":
        tasks.sort(key=lambda t: (task_category[t], t))
    elif sort == "failures":
        tasks.sort(key=lambda t: (-failures[t], t))
    else:
        tasks.sort()
    rows = []
    for task in tasks:
        row = [f"<code>{escape(task)}</code>", escape(task_category[task])]
        for fw in frameworks:
            links = " ".join(
                f'<a class="{_status(t)}" href="{trial_url(run, t.trial_id)}" title="{escape(_reason(t))}">'
                f"{'✓' if t.passed else ('!' if t.status == 'infra_error' else '✗')}</a>"
                for t in shown(task, fw)
            )
            states = {_status(t) for t in shown(task, fw)}
            cls = "fail" if "fail" in states else ("infra" if "infra" in states else "pass") if states else ""
            row.append(f'<span class="cell {cls}" data-framework="{escape(fw)}">{links}</span>')
        rows.append(row)
    form = (
        '<form class="filters" method="get">'
        f"<label>framework {_select('framework', ['all', *run.frameworks], framework)}</label>"
        f"<label>category {_select('category', ['all', *categories], category)}</label>"
        f"<label>outcome {_select('outcome', list(OUTCOMES), outcome)}</label>"
        f"<label>sort {_select('sort', list(SORTS), sort, SORTS)}</label>"
        '<button type="submit">apply</button></form>'
    )
    own = [f"{run.key}/{f}" for f in run.frameworks]
    choices = list(builds) or own
    other = next((b for b in choices if b != own[0]), own[-1]) if own else ""
    compare = (
        f'<form class="filters" method="get" action="/compare">'
        f"<label>task {_select('task', sorted(task_category), tasks[0] if tasks else '')}</label>"
        f"<label>A {_select('a', choices, own[0])}</label><label>B {_select('b', choices, other)}</label>"
        '<button type="submit">side by side</button></form>'
        if own
        else ""
    )
    totals = run.summary["totals"]
    meta = (
        f'<p class="meta">suite <code>{escape(run.info.suite)}</code>, model <code>{escape(run.info.model.name)}'
        f"</code>; {totals['trials']} trials, {totals['passed']} passed; showing {len(tasks)} tasks × "
        f"{len(frameworks)} builds</p>"
    )
    matrix = _table(["task", "category", *frameworks], rows, "matrix") if rows else "<p>No trial matches.</p>"
    body = (
        f"{meta}<h2>Leaderboard</h2>{_board(run)}<h2>Compare two builds on a task</h2>{compare}"
        f"<h2>Tasks × builds</h2>{form}{matrix}"
    )
    return page(f"Run {run.key}", body, [(run.key, f"/runs/{_q(run.key)}")])


# -- a trial ------------------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return escape(json.dumps(value, indent=2, ensure_ascii=False))


def _messages(messages: Any) -> str:
    out = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role", "?"))
        text = text_of(message.get("content"))
        extra = ""
        if message.get("tool_calls"):
            extra = f"<pre>{_json(message['tool_calls'])}</pre>"
        if message.get("tool_call_id"):
            extra += f'<div class="small muted">answers {escape(str(message["tool_call_id"]))}</div>'
        out.append(
            f'<div class="msg {escape(role)}"><span class="role">{escape(role)}</span>'
            f"<pre>{escape(text)}</pre>{extra}</div>"
        )
    return "".join(out)


def _model_event(line: ModelCallLine) -> str:
    request, reply = request_of(line), reply_of(line)
    calls = ", ".join(name for _, name, _ in requested_calls(line)) or "text"
    cut = (
        " (cut at the cap)"
        if (line.request and line.request.truncated) or (line.response and line.response.truncated)
        else ""
    )
    summary = (
        f"#{line.sequence} · turn {line.turn + 1} · {escape(asker(line))} · {line.input_tokens:,} in / "
        f"{line.output_tokens:,} out · {seconds(line.latency_s)} · → {escape(calls)}"
        + (f" · fault {escape(line.fault)}" if line.fault else "")
        + (f" · HTTP {line.status}" if line.status >= 400 else "")
    )
    settings = {
        k: request[k]
        for k in (
            "model",
            "temperature",
            "max_tokens",
            "max_completion_tokens",
            "tool_choice",
            "parallel_tool_calls",
            "response_format",
            "stream",
        )
        if k in request
    }
    tools = request.get("tools") or []
    body = (
        f"<h3>Messages sent ({len(request.get('messages') or [])}){escape(cut)}</h3>"
        f"{_messages(request.get('messages'))}"
        f"<h3>Tools offered ({len(tools)}): {escape(', '.join(tool_names(line)) or 'none')}</h3>"
        + (f"<details><summary>schemas</summary><pre>{_json(tools)}</pre></details>" if tools else "")
        + f"<h3>Settings</h3><pre>{_json(settings)}</pre>"
        f"<h3>Reply{' (reassembled from the stream)' if line.streamed else ''}</h3><pre>{_json(reply)}</pre>"
    )
    return f'<details class="event model" data-sequence="{line.sequence}"><summary>{summary}</summary>{body}</details>'


def _tool_event(line: ToolCallLine, result: str | None) -> str:
    latency = f"{line.latency_ms:,.0f} ms" if line.latency_ms is not None else "–"
    summary = (
        f"{escape(line.tool)} · turn {line.turn + 1} · {escape(line.outcome)}"
        + (f" ({escape(line.error_code)})" if line.error_code else "")
        + f" · {latency}"
        + (f" · fault {escape(line.fault)}" if line.fault else "")
    )
    shown = (
        f"<pre>{escape(result)}</pre>"
        if result is not None
        else '<p class="muted small">No later request carried this result back to the model.</p>'
    )
    return (
        f'<details class="event tool" data-tool="{escape(line.tool)}"><summary>{summary}</summary>'
        f"<h3>Arguments</h3><pre>{_json(line.arguments)}</pre>"
        f"<h3>Result, as the framework passed it back to the model</h3>{shown}</details>"
    )


def _timeline(trial: TrialRecord, lines: Sequence[TraceLine]) -> str:
    start = trial.started_at
    span = max(trial.wall_s, 1e-6)
    lanes = []

    def bar(cls: str, at: float, length: float, title: str) -> str:
        left = max(0.0, min(100.0, (at - start) / span * 100))
        width = max(0.3, min(100.0 - left, length / span * 100))
        return f'<div class="bar {cls}" style="left:{left:.2f}%;width:{width:.2f}%" title="{escape(title)}"></div>'

    for turn in trial.turns:
        lanes.append(
            f'<div class="lane"><div class="label"><b>turn {turn.index + 1}</b> {escape(turn.agent)}</div>'
            f'<div class="track">{bar("turnmark", turn.started_at, turn.wall_s, f"turn {turn.index + 1}")}</div></div>'
        )
    for line in lines:
        if isinstance(line, ModelCallLine):
            title = f"model call {line.sequence}: {seconds(line.latency_s)}, {line.input_tokens:,} tokens in"
            cls = "model error" if line.status >= 400 else "model"
            lanes.append(
                f'<div class="lane"><div class="label">model · {escape(asker(line))}</div>'
                f'<div class="track">{bar(cls, line.started_at, line.latency_s, title)}</div></div>'
            )
        elif isinstance(line, ToolCallLine) and line.started_at is not None:
            length = (line.latency_ms or 0.0) / 1000
            cls = "tool" if line.outcome == "ok" else "tool error"
            lanes.append(
                f'<div class="lane"><div class="label">tool · {escape(line.tool)}</div>'
                f'<div class="track">{bar(cls, line.started_at, length, f"{line.tool}: {line.outcome}")}</div></div>'
            )
    return f'<div class="timeline">{"".join(lanes)}</div><p class="small muted">0 – {seconds(trial.wall_s)}</p>'


def _turns(trial: TrialRecord) -> str:
    out = []
    scores = {s.index: s for s in trial.score.turns} if trial.score else {}
    for turn in trial.turns:
        score = scores.get(turn.index)
        checks = ""
        if score is not None:
            items = "".join(
                f'<li class="{"pass" if c.ok else "fail"}">{escape(c.kind)} {escape(c.expected)}'
                f"{(': ' + escape(c.detail)) if c.detail else ''}</li>"
                for c in score.answer_checks
            )
            route = f"route {escape(str(score.route_actual))} (expected {escape(score.route_expected)})"
            missing = f"; missing calls: {escape(', '.join(score.missing_calls))}" if score.missing_calls else ""
            checks = f'<p class="small">{route}{missing}</p><ul class="small">{items}</ul>'
        error = f'<p class="fail small">raised: {escape(turn.error)}</p>' if turn.error else ""
        out.append(
            f'<div class="turn" data-turn="{turn.index}"><h3>Turn {turn.index + 1} · answered by '
            f'{escape(turn.agent or "–")} · {seconds(turn.wall_s)}</h3><div class="user">{escape(turn.user)}</div>'
            f'<div class="answer">{escape(turn.text)}</div>{error}{checks}</div>'
        )
    return "".join(out)


def trial_page(run: Run, trial: TrialRecord) -> str:
    lines = run.trace(trial.trial_id)
    results = tool_results(lines)
    events = []
    for position, line in enumerate(lines):
        if isinstance(line, ModelCallLine):
            events.append(_model_event(line))
        elif isinstance(line, ToolCallLine):
            events.append(_tool_event(line, results[position].text))
    cost = f", {money(trial.cost_usd)}" if trial.cost_usd is not None else ""
    meta = (
        f'<p class="meta"><span class="badge {_status(trial)}">{escape(_reason(trial))}</span> · build '
        f"<b>{escape(trial.framework)}</b> · task <code>{escape(trial.task_id)}</code> ({escape(trial.category)}) · "
        f"repeat {trial.repeat} · {len(trial.model_calls)} model calls, {len(trial.tool_calls)} tool calls · "
        f"{trial.tokens_in:,} / {trial.tokens_out:,} tokens{cost} · wall {seconds(trial.wall_s)}</p>"
    )
    others = [f for f in run.frameworks if f != trial.framework]
    mine = f"{run.key}/{trial.framework}"
    links = [
        f'<a href="/compare?{escape(urlencode({"task": trial.task_id, "a": mine, "b": f"{run.key}/{o}"}))}">'
        f"{escape(o)}</a>"
        for o in others
    ]
    compare = f'<p class="small">Side by side with: {" ".join(links)}</p>' if links else ""
    trace_note = "" if lines else '<p class="muted">This trial has no trace (a run from before traces were kept).</p>'
    body = (
        f"{meta}{compare}<h2>Conversation</h2>{_turns(trial)}<h2>Timeline</h2>{trace_note}{_timeline(trial, lines)}"
        f"<h2>Calls, in order</h2>{''.join(events)}"
    )
    crumbs = [(run.key, f"/runs/{_q(run.key)}"), (trial.trial_id, trial_url(run, trial.trial_id))]
    return page(f"{trial.framework} · {trial.task_id}", body, crumbs)


# -- side by side -------------------------------------------------------------------------------------------


def _compact(lines: Sequence[TraceLine], turn: int) -> str:
    items = []
    for line in lines:
        if isinstance(line, ModelCallLine) and line.turn == turn:
            calls = ", ".join(name for _, name, _ in requested_calls(line)) or "text"
            items.append(
                f'<li class="small">model · {escape(asker(line))} · {len(request_of(line).get("messages") or [])} msgs'
                f" · {line.input_tokens:,} in / {line.output_tokens:,} out · {seconds(line.latency_s)}"
                f" → {escape(calls)}</li>"
            )
        elif isinstance(line, ToolCallLine) and line.turn == turn:
            items.append(f'<li class="small">tool · {escape(line.tool)} · {escape(line.outcome)}</li>')
    return f"<ul>{''.join(items)}</ul>"


def compare_page(task: str, sides: Sequence[tuple[Run, TrialRecord | None, str]]) -> str:
    """``sides``: (run, the framework's first trial of the task there or None, framework), two of them."""
    turns = max((len(t.turns) for _, t, _ in sides if t is not None), default=0)
    heads = []
    for run, trial, framework in sides:
        if trial is None:
            heads.append(
                f'<div><h2>{escape(framework)}</h2><p class="muted">No trial of this task in '
                f"{escape(run.key)}.</p></div>"
            )
            continue
        heads.append(
            f'<div><h2><a href="{trial_url(run, trial.trial_id)}">{escape(framework)}</a> '
            f'<span class="badge {_status(trial)}">{escape(_status(trial))}</span></h2>'
            f'<p class="meta">{escape(run.key)} · '
            f"{len(trial.model_calls)} model calls · {trial.tokens_in:,} / {trial.tokens_out:,} tokens · "
            f"wall {seconds(trial.wall_s)}</p></div>"
        )
    rows = [f'<div class="sides">{"".join(heads)}</div>']
    for index in range(turns):
        cells = []
        for run, trial, _ in sides:
            if trial is None or index >= len(trial.turns):
                cells.append('<div class="muted">–</div>')
                continue
            turn = trial.turns[index]
            cells.append(
                f'<div class="turn" data-turn="{index}"><h3>Turn {index + 1} · {escape(turn.agent or "–")}</h3>'
                f'<div class="user">{escape(turn.user)}</div><div class="answer">{escape(turn.text)}</div>'
                f"{_compact(run.trace(trial.trial_id), index)}</div>"
            )
        rows.append(f'<div class="sides">{"".join(cells)}</div>')
    names = " vs ".join(framework for _, _, framework in sides)
    return page(f"{task}: {names}", "".join(rows))


def not_found(what: str) -> str:
    return page("Not found", f"<p>{escape(what)}</p>")


__all__ = ["compare_page", "not_found", "run_page", "runs_page", "trial_page"]
