"""The afbench benchmark harness: one agent system, many frameworks, measured from the outside.

Every model call goes through the harness's own OpenAI-compatible gateway and every tool call through the
MCP server's log, each tagged with its trial, so frameworks are compared on what they actually did.
"""
