"""The five afbench tools as a plain, framework-free async library.

`tools` knows nothing of MCP or of any agent framework: each tool takes and returns pydantic models
and raises :class:`tools.errors.ToolError` with a stable error code on bad input.
"""
