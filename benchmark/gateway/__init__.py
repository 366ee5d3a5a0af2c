"""The harness's model gateway: an OpenAI-compatible server that every framework's model calls go through.

Each call is attributed to its trial by the URL (``/t/<trial-id>/v1/...``) and recorded (tokens, latency,
tool calls, errors, retries). Behind it sits one backend: the offline scripted model, or any OpenAI-
compatible upstream. A trial whose task carries a model fault has exactly one call broken on purpose (a
faulty reply, or a broken HTTP exchange), named in that call's record (see :mod:`benchmark.gateway.gateway`).
Typical use by the runner::

    gateway = Gateway(ScriptedBackend())
    with GatewayServer(gateway) as server:
        gateway.register_trial("t-001", task)
        endpoint = server.model_endpoint("t-001")   # hand to the framework build
        ...
        records = gateway.end_trial("t-001")          # cancels what is still open, records it as partial
"""

from benchmark.gateway.backend import Backend, Call, JsonReply, StreamReply
from benchmark.gateway.errors import GatewayError
from benchmark.gateway.gateway import Gateway
from benchmark.gateway.records import CallError, CallRecord, CutOff, InfraEvent, ToolCallRecord
from benchmark.gateway.scripted_backend import SCRIPTED_MODEL, ScriptedBackend
from benchmark.gateway.server import GatewayServer
from benchmark.gateway.upstream import DEFAULT_UPSTREAM_POLICY, UpstreamBackend, check_upstream

__all__ = [
    "DEFAULT_UPSTREAM_POLICY",
    "SCRIPTED_MODEL",
    "Backend",
    "Call",
    "CallError",
    "CallRecord",
    "CutOff",
    "Gateway",
    "GatewayError",
    "GatewayServer",
    "InfraEvent",
    "JsonReply",
    "ScriptedBackend",
    "StreamReply",
    "ToolCallRecord",
    "UpstreamBackend",
    "check_upstream",
]
