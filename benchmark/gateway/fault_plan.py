"""Which model call of a trial its task's fault breaks: each role's calls counted, retries told from new calls.

A task's ``fault.model`` (:class:`benchmark.tasks.models.ModelFault`) names one call: the ``nth`` call of a
``role`` (guardrail, orchestrator or specialist) in the trial. The role of a request is recognised exactly as
the scripted model recognises it (:func:`benchmark.scripted.role_of`: instructions in the system message, a
specialist known by the turn's tools); requests of no role (a speaker selector, a request nobody could place)
are not counted.

**Retries.** A framework's client that re-sends a request after an error (a 429, a reset, a stalled stream)
makes the same call again, not a new one. The gateway tells them apart by the request body: a request whose
body is identical (as JSON, keys in any order) to the previous request of the same role in the trial is the
next *attempt* of that call; any other body is a new call. A new call of a role always differs from the
previous one, since an agent's next call carries what came back from the last (a tool result, a new user
message). So a transport fault with ``times: 3`` fails attempts 1-3 of the n-th call and lets the fourth
through; a reply fault breaks only the first attempt of its call (a framework that simply asks again gets
the reference reply).

Only trials whose task has a model fault are tracked; every other trial's calls pass untouched, and the
state of one trial is never read for another.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any, get_args

from benchmark.scripted import FaultRole, role_of
from benchmark.spec import SystemSpec
from benchmark.tasks.models import ModelFault, ModelFaultKind, Task, TransportFaultKind

HTTP_ERROR_KINDS: frozenset[ModelFaultKind] = frozenset({"http_429", "http_500", "http_503"})
TRANSPORT_KINDS: frozenset[ModelFaultKind] = frozenset(get_args(TransportFaultKind))


@dataclass(frozen=True)
class Injection:
    """The fault to inject into this call, and where it stands."""

    fault: ModelFault
    role: FaultRole
    call: int  # the call's number among the role's calls in the trial (1-based): the fault's nth
    attempt: int  # 1 for the first request of the call, 2 for its first retry, ...

    @property
    def kind(self) -> ModelFaultKind:
        return self.fault.kind


@dataclass
class _RoleCalls:
    calls: int = 0
    attempt: int = 0
    last_body: str | None = None  # digest of the role's latest request body


def _digest(body: Any) -> str:
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class FaultPlan:
    """Per-trial call counting for the trials that carry a model fault. Thread-safe."""

    def __init__(self, spec: SystemSpec | None = None) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._trials: dict[str, dict[FaultRole, _RoleCalls]] = {}

    def forget(self, trial_id: str) -> None:
        """Start the trial's counts afresh (it was registered again, or forgotten)."""
        with self._lock:
            self._trials.pop(trial_id, None)

    def decide(self, trial_id: str, task: Task, body: Any) -> Injection | None:
        """Count this request against its role and return the fault to inject into it, if it is the one."""
        fault = task.fault.model if task.fault is not None else None
        if fault is None:
            return None
        role = role_of(task, body, self.spec)
        if role is None:
            return None
        digest = _digest(body)
        with self._lock:
            state = self._trials.setdefault(trial_id, {}).setdefault(role, _RoleCalls())
            if state.last_body == digest:
                state.attempt += 1
            else:
                state.calls, state.attempt, state.last_body = state.calls + 1, 1, digest
            call, attempt = state.calls, state.attempt
        if role != fault.role or call != fault.nth:
            return None
        limit = fault.times if fault.kind in TRANSPORT_KINDS else 1
        return Injection(fault, role, call, attempt) if attempt <= limit else None
