"""The tools the server exposes: name, description for models, input/output models, hints, handler.

SDK-neutral on purpose: this is what stays when the ``mcp`` SDK moves to 2.x; ``sdk.py`` turns it into MCP.
Handlers close over the server configuration (which database, which providers), so the models that
callers see hold only what a caller should choose.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from mcp_server.config import ServerConfig
from tools import calculator, rag, weather
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

    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        return self.output_model.model_json_schema()


def _doc(function: Callable[..., Any]) -> str:
    return " ".join((function.__doc__ or "").split())


def build_tools(config: ServerConfig) -> list[ToolSpec]:
    search_provider = search_tool.make_provider(config.search_provider)

    weather_provider = weather.make_provider(config.weather_provider or weather.default_provider_name())

    async def run_search(request: search_tool.SearchRequest) -> search_tool.SearchResult:
        return await search_tool.search(request, search_provider)

    async def run_weather(request: weather.WeatherRequest) -> weather.WeatherReport:
        return await weather.get_weather(request, weather_provider)

    return [
        ToolSpec(
            name="calculator",
            title="Calculator",
            description=_doc(calculator.calculate),
            input_model=calculator.CalculatorInput,
            output_model=calculator.CalculatorResult,
            handler=calculator.calculate,
        ),
        ToolSpec(
            name="weather",
            title="Weather",
            description=_doc(weather.get_weather),
            input_model=weather.WeatherRequest,
            output_model=weather.WeatherReport,
            handler=run_weather,
            open_world=weather_provider.name != "offline",
        ),
        ToolSpec(
            name="rag_search",
            title="Search legal documents (RAG)",
            description=_doc(rag.rag_search),
            input_model=rag.RagSearchRequest,
            output_model=rag.RagResult,
            handler=rag.rag_search,
        ),
        ToolSpec(
            name="search",
            title="Search documents",
            description=_doc(search_tool.search),
            input_model=search_tool.SearchRequest,
            output_model=search_tool.SearchResult,
            handler=run_search,
            open_world=search_provider.name != "offline",
        ),
    ]
