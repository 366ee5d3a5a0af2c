"""The tools the server exposes: name, description for models, input/output models, hints, handler.

SDK-neutral on purpose: this is what stays when the ``mcp`` SDK moves to 2.x; ``sdk.py`` turns it into MCP.
Handlers close over the server configuration (which database, which providers), so the models that
callers see hold only what a caller should choose.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, create_model

from mcp_server.config import ServerConfig
from tools import calculator, rag, sandbox, sql, weather
from tools import search as search_tool

Handler = Callable[[Any], Awaitable[BaseModel]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    handler: Handler
    open_world: bool = False  # reaches outside systems (web search, live weather)
    idempotent: bool = True
    default_scope: bool = True  # False: only keys whose tool scope names it may call it (``scopes.py``)
    # Arguments of one representative call that loads what the tool loads on first use (models, indices,
    # data files), for ``afbench serve --warm-up``; None: nothing worth loading ahead (or it needs a model).
    warm_up: dict[str, Any] | None = None
    # A line for the server's start-up log (logging level, text): what a tool can and cannot do here.
    notice: tuple[int, str] | None = None

    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        return self.output_model.model_json_schema()


def _doc(function: Callable[..., Any]) -> str:
    return " ".join((function.__doc__ or "").split())


def without_fields(model: type[BaseModel], *names: str) -> type[BaseModel]:
    """``model`` minus server-chosen fields (the SQL tools' ``db_path``): callers must not pick server files."""
    kept: dict[str, Any] = {n: (f.annotation, f) for n, f in model.model_fields.items() if n not in names}
    return create_model(model.__name__, __config__=model.model_config, __doc__=model.__doc__, **kept)


class SqlSchemaInput(BaseModel):
    question: str | None = Field(
        default=None,
        description="Optional: a question in plain words; only the tables most relevant to it are described.",
    )
    tables: list[str] | None = Field(default=None, description="Optional: describe only these tables (exact names).")
    sample_values: int = Field(default=3, ge=0, le=10, description="Distinct example values per column (0-10).")


SQL_SCHEMA_DESCRIPTION = (
    "Describe the business database before writing SQL: tables with their columns (type, key, description, "
    "sample values), foreign keys, indexes and row counts. Give `question` to get only the tables most relevant "
    "to it (semantic retrieval over table and column descriptions), or `tables` to name them."
)


# Every tool's name, in the order they are listed; ``build_tools`` builds exactly these. The command line
# checks per-tool limits and scopes against it. OPT_IN_TOOLS: those outside the default scope of a key.
TOOL_NAMES = ("calculator", "weather", "sql_schema", "sql_query", "text2sql", "rag_search", "search", "run_python")
OPT_IN_TOOLS = ("run_python",)


def build_tools(config: ServerConfig) -> list[ToolSpec]:
    search_provider = search_tool.make_provider(config.search_provider)

    database = str(config.sql_database) if config.sql_database else None

    async def run_schema(request: SqlSchemaInput) -> sql.SchemaInfo:
        tables = request.tables
        if request.question and not tables:
            tables = [match.table for match in await sql.relevant_tables(database, request.question, k=4)]
        return await sql.describe_schema(database, tables=tables, sample_values=request.sample_values)

    async def run_query(request: BaseModel) -> sql.QueryResult:
        return await sql.run_query(**request.model_dump(), db_path=database)

    async def run_text2sql(request: BaseModel) -> sql.Text2SQLResult:
        return await sql.text2sql(**request.model_dump(), db_path=database)

    weather_provider = weather.make_provider(config.weather_provider or weather.default_provider_name())

    async def run_search(request: search_tool.SearchRequest) -> search_tool.SearchResult:
        return await search_tool.search(request, search_provider)

    async def run_weather(request: weather.WeatherRequest) -> weather.WeatherReport:
        return await weather.get_weather(request, weather_provider)

    # The isolation is found now (a real probe, ~0.1 s), so that the description says what holds here.
    python_sandbox = sandbox.Sandbox(config.sandbox)
    isolation = python_sandbox.isolation()

    tools = [
        ToolSpec(
            name="calculator",
            title="Calculator",
            description=_doc(calculator.calculate),
            input_model=calculator.CalculatorInput,
            output_model=calculator.CalculatorResult,
            handler=calculator.calculate,
            warm_up={"expression": "2 * (3 + 4)"},
        ),
        ToolSpec(
            name="weather",
            title="Weather",
            description=_doc(weather.get_weather),
            input_model=weather.WeatherRequest,
            output_model=weather.WeatherReport,
            handler=run_weather,
            warm_up={"location": "Lisbon"} if weather_provider.name == "offline" else None,
            open_world=weather_provider.name != "offline",
        ),
        ToolSpec(
            name="sql_schema",
            title="Database schema",
            description=SQL_SCHEMA_DESCRIPTION,
            input_model=SqlSchemaInput,
            output_model=sql.SchemaInfo,
            handler=run_schema,
            warm_up={"question": "Which customers ordered the most?"},
        ),
        ToolSpec(
            name="sql_query",
            title="Run a read-only SQL query",
            description=_doc(sql.run_query),
            input_model=without_fields(sql.QueryRequest, "db_path"),
            output_model=sql.QueryResult,
            handler=run_query,
            warm_up={"sql": "SELECT 1 AS one"},
        ),
        ToolSpec(
            name="text2sql",
            title="Answer a data question with SQL",
            description=_doc(sql.text2sql),
            input_model=without_fields(sql.Text2SQLRequest, "db_path"),
            output_model=sql.Text2SQLResult,
            handler=run_text2sql,
            open_world=True,
            idempotent=False,
        ),
        ToolSpec(
            name="rag_search",
            title="Search legal documents (RAG)",
            description=_doc(rag.rag_search),
            input_model=rag.RagSearchRequest,
            output_model=rag.RagResult,
            handler=rag.rag_search,
            warm_up={"query": "notice period of the services agreement"},
        ),
        ToolSpec(
            name="search",
            title="Search documents",
            description=_doc(search_tool.search),
            input_model=search_tool.SearchRequest,
            output_model=search_tool.SearchResult,
            handler=run_search,
            warm_up={"query": "replace the battery"} if search_provider.name == "offline" else None,
            open_world=search_provider.name != "offline",
        ),
        ToolSpec(
            name="run_python",
            title="Run Python code in a sandbox",
            description=sandbox.description(config.sandbox.limits, isolation),
            input_model=sandbox.RunPythonRequest,
            output_model=sandbox.RunPythonResult,
            handler=python_sandbox.run,
            idempotent=False,
            default_scope=False,
            open_world=isolation is not None and isolation.kind != "bubblewrap",  # it can reach the network
            notice=(logging.INFO, f"run_python isolation: {isolation.describe()}")
            if isolation is not None and isolation.kind == "bubblewrap"
            else (logging.WARNING, f"run_python isolation: {isolation.describe()}")
            if isolation is not None
            else (logging.WARNING, f"run_python cannot run here: {python_sandbox.problem}"),
        ),
    ]
    assert tuple(t.name for t in tools) == TOOL_NAMES, "TOOL_NAMES must list every tool"
    assert tuple(t.name for t in tools if not t.default_scope) == OPT_IN_TOOLS, "OPT_IN_TOOLS must match"
    return tools
