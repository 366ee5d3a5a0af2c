"""The code team: the operational agent's delegation to it, and its members' replies (coder, reviewer, tester).

The team's protocol is :class:`benchmark.spec.TeamSpec`'s; what each member does is the turn's
:class:`benchmark.tasks.models.TeamScript`. As everywhere in the scripted model, progress is read from what the
request shows (message texts and tool-call arguments, in every form :func:`~benchmark.scripted.messages.forms`
knows), never remembered:

- **Delegation** (in :mod:`benchmark.scripted.specialist`: the team's parent, the operational agent): the turn
  is handed to the team as the orchestrator hands one to a specialist (a tool named for the team, a generic
  handoff tool, a route schema, or the team's name as text), and once the team's answer (the tester's,
  recognised by the turn's answer template) is in the conversation, it is relayed.
- **Coder**: writes ``drafts[i + 1]`` where review ``i`` is the latest review requesting changes that the
  request shows, ``drafts[0]`` when it shows none; answers with the draft in a fenced ``python`` block.
- **Reviewer**: answers ``reviews[j]`` for the latest draft ``j`` the request shows.
- **Tester**: runs the latest draft the request shows, followed by the script's ``tests``, with ``run_python``
  (a one-step script: retried once on an error result, as any specialist step), then answers with the turn's
  template, ``{draft}`` being the draft it tested.
- **Next member** (a speaker selector choosing among the members): the coder until a draft shows; the reviewer
  for a draft not yet reviewed; the coder after a review requesting changes; the tester after an approval.
"""

from __future__ import annotations

from benchmark.scripted import specialist
from benchmark.scripted.replies import ScriptedReply
from benchmark.scripted.situation import Situation
from benchmark.spec import CODER, REVIEWER, TESTER, TeamSpec
from benchmark.tasks.models import ScriptStep, TeamScript

RUN_PYTHON = "run_python"


def members(team: TeamSpec) -> tuple[str, ...]:
    return tuple(agent.name for agent in team.members)


def _script(situation: Situation) -> TeamScript | None:
    script = situation.turn.script
    return script.team if script is not None else None


def latest_draft(situation: Situation, script: TeamScript) -> int | None:
    """The index of the latest draft the request shows, or None."""
    shown = [i for i, draft in enumerate(script.drafts) if situation.shows(draft.strip())]
    return shown[-1] if shown else None


def _latest_change_request(situation: Situation, script: TeamScript) -> int | None:
    shown = [i for i, review in enumerate(script.reviews[:-1]) if situation.shows(review.strip())]
    return shown[-1] if shown else None


def _not_a_team_turn(situation: Situation) -> ScriptedReply:
    number = situation.match.index + 1
    return situation.fail(f"the code team's {situation.role} was asked turn {number}, which is no programming request")


def coder(situation: Situation) -> ScriptedReply:
    script = _script(situation)
    if script is None:
        return _not_a_team_turn(situation)
    reviewed = _latest_change_request(situation, script)
    draft = script.drafts[min(reviewed + 1, len(script.drafts) - 1) if reviewed is not None else 0]
    return situation.say(f"```python\n{draft.strip()}\n```")


def reviewer(situation: Situation) -> ScriptedReply:
    script = _script(situation)
    if script is None:
        return _not_a_team_turn(situation)
    latest = latest_draft(situation, script)
    if latest is None:
        return situation.fail("the reviewer was given no draft of the coder's to review")
    return situation.say(script.reviews[latest])


def tester(situation: Situation) -> ScriptedReply:
    script = _script(situation)
    if script is None:
        return _not_a_team_turn(situation)
    latest = latest_draft(situation, script)
    if latest is None:
        return situation.fail("the tester was given no draft of the coder's to test")
    draft = script.drafts[latest].strip()
    step = ScriptStep(call=RUN_PYTHON, arguments={"code": f"{draft}\n\n\n{script.tests.strip()}\n"})
    assert situation.turn.script is not None  # a team script lives in one
    return specialist.work(situation, [step], situation.turn.script.answer, given={"draft": draft})


def answer(situation: Situation) -> ScriptedReply:
    """The reply of the team member ``situation.role``."""
    by_role = {CODER: coder, REVIEWER: reviewer, TESTER: tester}
    return by_role[situation.role](situation)


def next_member(situation: Situation) -> str | None:
    """Who speaks next in the team (a member's name), or None when this is no programming request."""
    script = _script(situation)
    if script is None:
        return None
    latest = latest_draft(situation, script)
    if latest is None:
        return CODER
    if not situation.shows(script.reviews[latest].strip()):
        return REVIEWER
    return TESTER if latest == len(script.drafts) - 1 else CODER
