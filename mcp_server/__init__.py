"""The afbench MCP server: the `tools/` library behind one Model Context Protocol server.

Transports: stdio, streamable HTTP (``/mcp``) and WebSocket (``/ws``); API keys, quotas and a usage log in
SQLite. Knows nothing of agent frameworks.
"""
