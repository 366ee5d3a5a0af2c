"""Weather tool: the offline data set's fixed answers, name matching, units, every bad input with its
exact error code, and the Open-Meteo provider against a local fake speaking the real protocol over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.loopback import free_port, serve_in_thread
from tests.tools.weather_fake import FORECAST_PATH, SEARCH_PATH, FakeOpenMeteo, Planned, daily_metric
from tools._http import RetryPolicy
from tools.errors import ErrorCode, ToolError
from tools.weather import WeatherReport, WeatherRequest, build_data, get_weather, make_provider
from tools.weather.codes import WMO_DESCRIPTIONS, describe
from tools.weather.matching import DOMINANCE_RATIO
from tools.weather.offline import DATA_FILE, OfflineProvider
from tools.weather.open_meteo import CURRENT_FIELDS, DAILY_FIELDS, OpenMeteoProvider

AS_OF = dt.date(2026, 6, 15)


async def offline(**fields: Any) -> WeatherReport:
    return await OfflineProvider().report(WeatherRequest(**fields))


async def offline_error(**fields: Any) -> ToolError:
    with pytest.raises(ToolError) as caught:
        await offline(**fields)
    return caught.value


# --------------------------------------------------------------------------------------------------
# Offline data set
# --------------------------------------------------------------------------------------------------


def test_committed_data_set_is_what_the_generator_builds() -> None:
    assert DATA_FILE.read_text(encoding="utf-8") == build_data.render()


def test_data_set_is_large_worldwide_and_plausible() -> None:
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    cities = data["cities"]
    assert data["as_of"] == AS_OF.isoformat()
    assert len(cities) >= 40
    assert len({c["country_code"] for c in cities}) >= 30
    assert {c["name"] for c in cities} >= {"London", "Paris", "Portland", "Springfield", "Sydney", "Tokyo"}
    for city in cities:
        assert -90 <= city["latitude"] <= 90 and -180 <= city["longitude"] <= 180
        assert city["population"] > 0 and "/" in city["timezone"]
        days = city["daily"]
        assert [d["date"] for d in days] == [(AS_OF + dt.timedelta(days=i)).isoformat() for i in range(7)]
        for day in days:
            assert day["temperature_min"] < day["temperature_max"], city["id"]
            assert day["weather_code"] in WMO_DESCRIPTIONS
            assert 0 <= day["precipitation_probability_max"] <= 100
            assert day["precipitation_sum"] >= 0 and day["wind_speed_max"] > 0
            wet_code = day["weather_code"] >= 51
            assert wet_code == (day["precipitation_sum"] > 0), (city["id"], day)
        assert 0 < city["current"]["relative_humidity"] <= 100
    by_id = {c["id"]: c for c in cities}

    def mean_max(city_id: str) -> float:
        return sum(d["temperature_max"] for d in by_id[city_id]["daily"]) / 7

    # June: desert heat, northern summer, southern winter.
    assert mean_max("riyadh-sa") > mean_max("paris-fr") > mean_max("melbourne-au")
    assert sum(d["precipitation_sum"] for d in by_id["cairo-eg"]["daily"]) == 0


async def test_known_city_has_fixed_values_and_states_its_date() -> None:
    report = await offline(location="Paris, FR")
    assert report.provider == "offline" and report.live is False
    assert report.as_of == AS_OF and report.observed_at == "2026-06-15T12:00"
    assert report.location.country_code == "FR" and report.location.timezone == "Europe/Paris"
    assert report.current.temperature == 22.7
    assert report.current.apparent_temperature == 23.4
    assert report.current.relative_humidity == 62
    assert report.current.weather_code == 2 and report.current.description == "Partly cloudy"
    assert [d.date for d in report.daily] == [AS_OF, AS_OF + dt.timedelta(days=1), AS_OF + dt.timedelta(days=2)]
    assert report.daily[0].temperature_max == 25.3 and report.daily[0].temperature_min == 15.0
    assert "2026-06-15" in report.summary and "not live" in report.summary
    assert "NOT observed or live" in report.attribution
    again = await offline(location="paris, fr")
    assert again.model_dump() == report.model_dump()


async def test_days_selects_forecast_length() -> None:
    assert len((await offline(location="Tokyo", days=1)).daily) == 1
    week = await offline(location="Tokyo", days=7)
    assert len(week.daily) == 7 and week.daily[-1].date == AS_OF + dt.timedelta(days=6)
    assert (await offline(location="Tokyo")).daily == week.daily[:3]


async def test_imperial_is_converted_from_metric_and_rounded() -> None:
    metric = await offline(location="Miami", days=7)
    imperial = await offline(location="Miami", days=7, units="imperial")
    assert imperial.unit_labels.temperature == "°F"
    assert (imperial.unit_labels.wind_speed, imperial.unit_labels.precipitation) == ("mph", "inch")
    assert metric.unit_labels.temperature == "°C" and metric.unit_labels.wind_speed == "km/h"
    assert metric.current.temperature is not None and metric.current.wind_speed is not None
    assert imperial.current.temperature == round(metric.current.temperature * 9 / 5 + 32, 1)
    assert imperial.current.wind_speed == round(metric.current.wind_speed / 1.609344, 1)
    for m, i in zip(metric.daily, imperial.daily, strict=True):
        assert m.temperature_max is not None and m.temperature_min is not None
        assert m.precipitation_sum is not None and m.wind_speed_max is not None
        assert i.temperature_max == round(m.temperature_max * 9 / 5 + 32, 1)
        assert i.temperature_min == round(m.temperature_min * 9 / 5 + 32, 1)
        assert i.wind_speed_max == round(m.wind_speed_max / 1.609344, 1)
        assert i.precipitation_sum == round(m.precipitation_sum / 25.4, 2)
        assert i.precipitation_probability_max == m.precipitation_probability_max
        assert i.weather_code == m.weather_code
    # Miami's first day is a downpour: 46.4 mm is 1.83 inches, not a rounded-away 1.8.
    assert metric.daily[0].precipitation_sum == 46.4 and imperial.daily[0].precipitation_sum == 1.83
    assert "°F" in imperial.summary and "mph" in imperial.summary


async def test_units_are_case_insensitive_and_checked() -> None:
    assert (await offline(location="Oslo", units=" Imperial ")).units == "imperial"
    with pytest.raises(ValidationError):
        WeatherRequest(location="Oslo", units="kelvin")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "city", "country_code"),
    [
        ("NYC", "New York", "US"),
        ("new york city", "New York", "US"),
        ("München", "Munich", "DE"),
        ("MUENCHEN", "Munich", "DE"),
        ("munchen", "Munich", "DE"),
        ("Munich", "Munich", "DE"),
        ("  zurich  ", "Zürich", "CH"),
        ("ZÜRICH", "Zürich", "CH"),
        ("sao paulo", "São Paulo", "BR"),
        ("Reykjavik", "Reykjavík", "IS"),
        ("Bombay", "Mumbai", "IN"),
        ("Москва", "Moscow", "RU"),
        ("東京", "Tokyo", "JP"),
        ("İstanbul", "Istanbul", "TR"),
        ("Washington D.C.", "Washington", "US"),
        ("bogota", "Bogotá", "CO"),
        ("Montreal", "Montréal", "CA"),
    ],
)
async def test_aliases_accents_and_case(text: str, city: str, country_code: str) -> None:
    report = await offline(location=text)
    assert (report.location.name, report.location.country_code) == (city, country_code)


@pytest.mark.parametrize(
    ("text", "admin1", "country_code"),
    [
        ("Paris, FR", "Île-de-France", "FR"),
        ("Paris, France", "Île-de-France", "FR"),
        ("Paris, Texas", "Texas", "US"),
        ("paris, tx", "Texas", "US"),
        ("Paris, United States", "Texas", "US"),
        ("London, CA", "Ontario", "CA"),
        ("London, Ontario", "Ontario", "CA"),
        ("London, UK", "England", "GB"),
        ("London, England", "England", "GB"),
        ("Portland, Oregon", "Oregon", "US"),
        ("Portland, ME", "Maine", "US"),
        ("Portland Oregon", "Oregon", "US"),
        ("Portland, Maine, USA", "Maine", "US"),
        ("Springfield, Illinois, US", "Illinois", "US"),
        ("Cordoba, Spain", "Andalusia", "ES"),
        ("Córdoba, AR", "Córdoba", "AR"),
        ("Lagos, Nigeria", "Lagos", "NG"),
        ("Perth, Scotland", "Scotland", "GB"),
        ("Melbourne, Australia", "Victoria", "AU"),
    ],
)
async def test_qualifiers_pick_one_of_several_namesakes(text: str, admin1: str, country_code: str) -> None:
    report = await offline(location=text)
    assert (report.location.admin1, report.location.country_code) == (admin1, country_code)


@pytest.mark.parametrize(
    ("text", "qualified", "admin1", "passed_over"),
    [
        ("Paris", "Paris, FR", "Île-de-France", ["Paris, Texas, US"]),
        ("london", "London, UK", "England", ["London, Ontario, CA"]),
        ("Lagos", "Lagos, Nigeria", "Lagos", ["Lagos, Faro, PT"]),
        ("Melbourne", "Melbourne, Australia", "Victoria", ["Melbourne, Florida, US"]),
        ("Perth", "Perth, AU", "Western Australia", ["Perth, Scotland, GB"]),
    ],
)
async def test_a_far_more_populous_namesake_is_assumed_and_the_others_listed(
    text: str, qualified: str, admin1: str, passed_over: list[str]
) -> None:
    report = await offline(location=text)
    assert report.location.admin1 == admin1
    assert [a.query for a in report.alternatives] == passed_over
    assert f"Assumed the most populous {report.location.name}" in report.summary
    assert all(query in report.summary for query in passed_over)
    # Same weather as asking for the place by its qualified name; only the note on the choice differs.
    named = await offline(location=qualified)
    assert named.alternatives == [] and "Assumed" not in named.summary
    note = {"alternatives", "summary"}
    assert report.model_dump(exclude=note) == named.model_dump(exclude=note)
    # Each listed alternative's query selects exactly that place.
    for alternative in report.alternatives:
        other = await offline(location=alternative.query)
        assert (other.location.latitude, other.location.longitude) == (alternative.latitude, alternative.longitude)
        assert other.location.population == alternative.population and other.alternatives == []


async def test_alternatives_carry_the_place_facts_a_model_needs() -> None:
    (texas,) = (await offline(location="Paris")).alternatives
    assert texas.model_dump() == {
        "name": "Paris",
        "country": "United States",
        "country_code": "US",
        "admin1": "Texas",
        "latitude": 33.6609,
        "longitude": -95.5555,
        "population": 24476,
        "query": "Paris, Texas, US",
    }


@pytest.mark.parametrize(
    ("text", "count"),
    [("portland", 2), ("Springfield", 3), ("Cordoba", 2), ("Springfield, US", 3)],
)
async def test_namesakes_of_similar_size_are_ambiguous_and_each_listed_option_works(text: str, count: int) -> None:
    error = await offline_error(location=text)
    assert error.code == ErrorCode.AMBIGUOUS
    options = error.details["candidates"]
    assert len(options) == count and f"matches {count} places" in error.message
    assert all(option in error.message for option in options)
    resolved = {(await offline(location=option)).location.latitude for option in options}
    assert len(resolved) == count


async def test_ambiguity_lists_most_populous_first() -> None:
    error = await offline_error(location="Springfield")
    assert error.details["candidates"] == [
        "Springfield, Missouri, US",
        "Springfield, Massachusetts, US",
        "Springfield, Illinois, US",
    ]
    assert "pop. 169,176" in error.message and f"none {DOMINANCE_RATIO} times as populous" in error.message


def _with_population(tmp_path: Path, populations: dict[str, int]) -> OfflineProvider:
    """The bundled data set with some cities' populations replaced, as a provider reading that copy."""
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    for city in data["cities"]:
        city["population"] = populations.get(city["id"], city["population"])
    path = tmp_path / f"cities-{'-'.join(f'{k}{v}' for k, v in sorted(populations.items()))}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return OfflineProvider(data_file=path)


@pytest.mark.parametrize(("oregon", "resolves"), [(684_080, True), (684_079, False)])
async def test_offline_dominance_starts_at_exactly_ten_times_the_next(
    tmp_path: Path, oregon: int, resolves: bool
) -> None:
    # Maine stays at 68,408: ten times that is the first population at which Oregon is assumed.
    provider = _with_population(tmp_path, {"portland-us-or": oregon})
    request = WeatherRequest(location="Portland")
    if resolves:
        report = await provider.report(request)
        assert report.location.admin1 == "Oregon"
        assert [a.query for a in report.alternatives] == ["Portland, Maine, US"]
    else:
        with pytest.raises(ToolError) as caught:
            await provider.report(request)
        assert caught.value.code == ErrorCode.AMBIGUOUS


@pytest.mark.parametrize(
    "fields", [{"location": "Paris, Texas"}, {"location": "London, CA"}, {"latitude": 48.85, "longitude": 2.35}]
)
async def test_qualified_names_and_coordinates_have_no_alternatives(fields: dict[str, Any]) -> None:
    report = await offline(**fields)
    assert report.alternatives == [] and "Assumed" not in report.summary


def test_tool_description_and_output_schema_explain_alternatives() -> None:
    field = WeatherReport.model_json_schema()["properties"]["alternatives"]
    assert f"at least {DOMINANCE_RATIO} times" in field["description"] and "query" in field["description"]
    doc = " ".join((get_weather.__doc__ or "").split())
    assert "`alternatives`" in doc and f"at least {DOMINANCE_RATIO} times" in doc


async def test_unknown_city_suggests_close_matches() -> None:
    error = await offline_error(location="Pariss")
    assert error.code == ErrorCode.NOT_FOUND
    assert "Paris, Île-de-France, FR" in error.details["suggestions"]
    assert "close matches" in error.message and "Pariss" in error.message
    nothing = await offline_error(location="Atlantis")
    assert nothing.code == ErrorCode.NOT_FOUND and "no close matches" in nothing.message


async def test_known_name_with_wrong_qualifier_is_not_found_and_names_the_options() -> None:
    error = await offline_error(location="Paris, Germany")
    assert error.code == ErrorCode.NOT_FOUND
    assert "Germany" in error.message and "Paris, Texas, US" in error.message


async def test_coordinates_give_the_nearest_city_with_its_distance() -> None:
    report = await offline(latitude=48.85, longitude=2.35)
    assert report.location.name == "Paris" and report.location.country_code == "FR"
    assert report.location.distance_km is not None and report.location.distance_km < 2
    maine = await offline(latitude=43.7, longitude=-70.3)
    assert maine.location.admin1 == "Maine"
    suburb = await offline(latitude=-33.80, longitude=151.0)
    assert suburb.location.name == "Sydney" and 10 < (suburb.location.distance_km or 0) < 25
    typed = await offline(location="45.5, -122.7")
    assert typed.location.admin1 == "Oregon"


async def test_coordinates_far_from_any_city_name_the_distance() -> None:
    error = await offline_error(latitude=0.0, longitude=0.0)
    assert error.code == ErrorCode.NOT_FOUND
    assert "Lagos, Nigeria" in error.message and "817 km" in error.message
    assert error.details["distance_km"] == pytest.approx(817, abs=1)
    wider = OfflineProvider(max_distance_km=1000)
    assert (await wider.report(WeatherRequest(latitude=0.0, longitude=0.0))).location.name == "Lagos"


async def test_blank_name_beside_coordinates_means_use_the_coordinates() -> None:
    report = await offline(location="  ", latitude=35.68, longitude=139.65)
    assert report.location.name == "Tokyo"


@pytest.mark.parametrize(
    ("fields", "code", "fragment"),
    [
        ({"location": ""}, ErrorCode.EMPTY_INPUT, "location is empty"),
        ({"location": "   \t "}, ErrorCode.EMPTY_INPUT, "location is empty"),
        ({"location": ", FR"}, ErrorCode.EMPTY_INPUT, "no place name before the first comma"),
        ({}, ErrorCode.INVALID_ARGUMENT, "no location given"),
        ({"location": "Paris", "latitude": 1.0, "longitude": 2.0}, ErrorCode.INVALID_ARGUMENT, "not both"),
        ({"latitude": 48.8}, ErrorCode.INVALID_ARGUMENT, "longitude is missing"),
        ({"longitude": 2.3}, ErrorCode.INVALID_ARGUMENT, "latitude is missing"),
        ({"latitude": 91, "longitude": 0}, ErrorCode.INVALID_ARGUMENT, "latitude must be between -90 and 90"),
        ({"latitude": -90.001, "longitude": 0}, ErrorCode.INVALID_ARGUMENT, "latitude must be between"),
        ({"latitude": 0, "longitude": 180.5}, ErrorCode.INVALID_ARGUMENT, "longitude must be between -180 and 180"),
        ({"latitude": 0, "longitude": -999}, ErrorCode.INVALID_ARGUMENT, "longitude must be between"),
        ({"latitude": math.nan, "longitude": 0}, ErrorCode.INVALID_ARGUMENT, "latitude must be a finite number"),
        ({"latitude": 0, "longitude": math.inf}, ErrorCode.INVALID_ARGUMENT, "longitude must be a finite number"),
        ({"location": "95, 10"}, ErrorCode.INVALID_ARGUMENT, "latitude must be between"),
        ({"location": "Paris", "days": 0}, ErrorCode.INVALID_ARGUMENT, "days must be between 1 and 7"),
        ({"location": "Paris", "days": 8}, ErrorCode.INVALID_ARGUMENT, "days must be between 1 and 7 for the offline"),
        ({"location": "Paris", "days": -3}, ErrorCode.INVALID_ARGUMENT, "got -3"),
        ({"location": "x" * 201}, ErrorCode.INPUT_TOO_LARGE, "201 characters; the limit is 200"),
        ({"location": "Paris" * 200_000}, ErrorCode.INPUT_TOO_LARGE, "the limit is 200"),
        ({"location": "Paris\x00"}, ErrorCode.INVALID_ARGUMENT, "control character U+0000 at position 6"),
        ({"location": "Par\nis"}, ErrorCode.INVALID_ARGUMENT, "control character U+000A"),
        ({"location": "Paris\x1b[31m"}, ErrorCode.INVALID_ARGUMENT, "control character U+001B"),
        ({"location": "12345"}, ErrorCode.INVALID_ARGUMENT, "contains no letters"),
        ({"location": "🌧️☔"}, ErrorCode.INVALID_ARGUMENT, "contains no letters"),
        ({"location": "'; DROP TABLE cities; --"}, ErrorCode.NOT_FOUND, "no city named"),
        ({"location": "<script>alert(1)</script>"}, ErrorCode.NOT_FOUND, "no city named"),
        ({"location": "../../etc/passwd"}, ErrorCode.NOT_FOUND, "no city named"),
    ],
)
async def test_bad_input_gets_its_exact_code(fields: dict[str, Any], code: ErrorCode, fragment: str) -> None:
    error = await offline_error(**fields)
    assert error.code == code
    assert fragment in error.message


def test_wrong_types_are_rejected_by_the_model() -> None:
    with pytest.raises(ValidationError):
        WeatherRequest(location=123)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        WeatherRequest(location="Paris", days="three")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        WeatherRequest(latitude="north", longitude=0)  # type: ignore[arg-type]


def test_request_schema_documents_fields_for_a_model() -> None:
    schema = WeatherRequest.model_json_schema()["properties"]
    assert schema["units"]["enum"] == ["metric", "imperial"]
    assert schema["days"]["maximum"] == 16 and schema["latitude"]["minimum"] == -90
    assert all(prop.get("description") for prop in schema.values())


def test_missing_or_broken_data_set_is_not_configured(tmp_path: Path) -> None:
    provider = OfflineProvider(data_file=tmp_path / "absent.json")
    with pytest.raises(ToolError) as caught:
        provider.locations()
    assert caught.value.code == ErrorCode.NOT_CONFIGURED and "absent.json" in caught.value.message
    broken = tmp_path / "broken.json"
    broken.write_text('{"as_of": "2026-06-15", "cities": [{"id": 1}]}', encoding="utf-8")
    with pytest.raises(ToolError) as caught:
        OfflineProvider(data_file=broken).locations()
    assert caught.value.code == ErrorCode.NOT_CONFIGURED and "malformed" in caught.value.message


def test_wmo_codes_have_text() -> None:
    assert describe(0) == "Clear sky"
    assert describe(2) == "Partly cloudy"
    assert describe(61) == "Slight rain"
    assert describe(95) == "Thunderstorm"
    assert describe(42) == "Unknown weather code 42"
    assert describe(None) == "Not reported"


# --------------------------------------------------------------------------------------------------
# Entry point and provider selection
# --------------------------------------------------------------------------------------------------


async def test_get_weather_defaults_to_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFBENCH_WEATHER_PROVIDER", raising=False)
    report = await get_weather(WeatherRequest(location="Berlin"))
    assert report.provider == "offline" and report.as_of == AS_OF


async def test_unknown_provider_lists_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ToolError) as caught:
        make_provider("weather.com")
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert "offline, open-meteo" in caught.value.message
    monkeypatch.setenv("AFBENCH_WEATHER_PROVIDER", "nope")
    with pytest.raises(ToolError) as caught:
        await get_weather(WeatherRequest(location="Berlin"))
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT and "'nope'" in caught.value.message


def test_bad_provider_options_are_invalid_arguments() -> None:
    for name, options in [
        ("offline", {"colour": "blue"}),
        ("offline", {"max_distance_km": -1}),
        ("open-meteo", {"timeout": 0}),
        ("open-meteo", {"policy": {"attempts": 2}}),
        ("open-meteo", {"geocoding_count": 0}),
    ]:
        with pytest.raises(ToolError) as caught:
            make_provider(name, **options)
        assert caught.value.code == ErrorCode.INVALID_ARGUMENT, (name, options)


async def test_get_weather_rejects_a_plain_dict() -> None:
    with pytest.raises(ToolError) as caught:
        await get_weather({"location": "Paris"})  # type: ignore[arg-type]
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


# --------------------------------------------------------------------------------------------------
# Open-Meteo provider against a local fake over a real socket
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenMeteo]:
    server = FakeOpenMeteo()
    with serve_in_thread(server.app) as base_url:
        server.base_url = base_url
        yield server


@pytest.fixture
def fake(fake_server: FakeOpenMeteo) -> FakeOpenMeteo:
    fake_server.reset()
    return fake_server


FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.05, timeout_s=2.0)


def live(fake: FakeOpenMeteo, policy: RetryPolicy = FAST) -> OpenMeteoProvider:
    return OpenMeteoProvider(fake.geocoding_url, fake.forecast_url, policy=policy)


async def live_error(provider: OpenMeteoProvider, **fields: Any) -> ToolError:
    with pytest.raises(ToolError) as caught:
        await provider.report(WeatherRequest(**fields))
    return caught.value


async def test_open_meteo_by_name_sends_the_right_queries(fake: FakeOpenMeteo) -> None:
    report = await live(fake).report(WeatherRequest(location="Berlin"))
    (search,) = fake.requests_to(SEARCH_PATH)
    assert search.query == {"name": "Berlin", "count": "10", "language": "en", "format": "json"}
    (forecast,) = fake.requests_to(FORECAST_PATH)
    assert forecast.query == {
        "latitude": "52.52437",
        "longitude": "13.41053",
        "current": ",".join(CURRENT_FIELDS),
        "daily": ",".join(DAILY_FIELDS),
        "timezone": "auto",
        "forecast_days": "3",
    }
    for recorded in (search, forecast):
        agent = recorded.headers["user-agent"]
        assert agent.startswith("afbench/") and "(+https://github.com/afbench" in agent
    assert report.provider == "open-meteo" and report.live is True
    assert report.location.name == "Berlin" and report.location.country == "Germany"
    assert report.location.admin1 == "Land Berlin" and report.location.timezone == "Europe/Berlin"
    assert report.as_of == dt.date(2026, 3, 2) and report.observed_at == "2026-03-02T14:45"
    assert report.current.temperature == 21.3 and report.current.relative_humidity == 64
    assert report.current.description == "Partly cloudy" and report.current.wind_direction_compass == "SW"
    assert [d.description for d in report.daily] == ["Partly cloudy", "Slight rain", "Overcast"]
    assert report.daily[1].precipitation_sum == 5.1 and report.daily[1].temperature_max == 25.0
    assert "Open-Meteo" in report.attribution and "not live" not in report.summary


async def test_open_meteo_imperial_by_coordinates(fake: FakeOpenMeteo) -> None:
    report = await live(fake).report(WeatherRequest(latitude=52.52, longitude=13.41, days=5, units="imperial"))
    assert fake.requests_to(SEARCH_PATH) == []
    (forecast,) = fake.requests_to(FORECAST_PATH)
    assert forecast.query["latitude"] == "52.52" and forecast.query["longitude"] == "13.41"
    assert forecast.query["forecast_days"] == "5"
    assert forecast.query["temperature_unit"] == "fahrenheit"
    assert forecast.query["wind_speed_unit"] == "mph"
    assert forecast.query["precipitation_unit"] == "inch"
    assert report.unit_labels.temperature == "°F" and report.unit_labels.wind_speed == "mph"
    assert report.current.temperature == round(21.3 * 9 / 5 + 32, 1)
    assert report.current.wind_speed == round(14.4 / 1.609344, 1)
    assert len(report.daily) == 5
    assert report.daily[3].precipitation_sum == round(12.7 / 25.4, 2)
    assert report.daily[3].description == "Thunderstorm"
    assert report.location.name == "52.5200, 13.4100" and report.location.timezone == "Europe/Berlin"


async def test_open_meteo_allows_sixteen_days_and_missing_values(fake: FakeOpenMeteo) -> None:
    report = await live(fake).report(WeatherRequest(location="Sydney", days=16))
    assert len(report.daily) == 16
    assert report.daily[15].precipitation_probability_max is None
    assert report.daily[15].temperature_max == daily_metric(15)["temperature_2m_max"]
    fake.reset()
    error = await live_error(live(fake), location="Sydney", days=17)
    assert error.code == ErrorCode.INVALID_ARGUMENT and "between 1 and 16" in error.message
    assert fake.requests == []  # the 17-day request never left the process


async def test_open_meteo_qualifier_and_ambiguity(fake: FakeOpenMeteo) -> None:
    maine = await live(fake).report(WeatherRequest(location="Portland, Maine"))
    assert maine.location.admin1 == "Maine"
    assert fake.requests_to(SEARCH_PATH)[0].query["name"] == "Portland"
    assert fake.requests_to(SEARCH_PATH)[0].query["count"] == "50"
    error = await live_error(live(fake), location="Portland")
    assert error.code == ErrorCode.AMBIGUOUS
    assert error.details["candidates"] == ["Portland, Oregon, US", "Portland, Maine, US"]
    wrong = await live_error(live(fake), location="Portland, France")
    assert wrong.code == ErrorCode.NOT_FOUND and "France" in wrong.message


async def test_open_meteo_assumes_the_far_more_populous_paris(fake: FakeOpenMeteo) -> None:
    report = await live(fake).report(WeatherRequest(location="Paris"))
    assert (report.location.country_code, report.location.admin1) == ("FR", "Île-de-France")
    (forecast,) = fake.requests_to(FORECAST_PATH)
    assert (forecast.query["latitude"], forecast.query["longitude"]) == ("48.85341", "2.3488")
    (texas,) = report.alternatives
    assert (texas.query, texas.population, texas.latitude) == ("Paris, Texas, US", 24171, 33.66094)
    assert "Assumed the most populous Paris" in report.summary and "Paris, Texas, US" in report.summary
    chosen = await live(fake).report(WeatherRequest(location=texas.query))
    assert chosen.location.admin1 == "Texas" and chosen.alternatives == []


def _geocoded(*populations: int | None) -> Planned:
    """A geocoder answer of same-named towns with these populations (None: the field is absent)."""
    results = []
    for index, population in enumerate(populations):
        place: dict[str, Any] = {
            "id": 100 + index, "name": "Newtown", "latitude": 50.0 + index, "longitude": 10.0,
            "country_code": "DE", "country": "Germany", "admin1": f"Region {index}", "timezone": "Europe/Berlin",
        }  # fmt: skip
        if population is not None:
            place["population"] = population
        results.append(place)
    return Planned(status=200, body={"results": results})


@pytest.mark.parametrize(
    ("populations", "admin1"),
    [
        ((500_000, 50_000), "Region 0"),  # exactly ten times: assumed
        ((499_999, 50_000), None),  # just under: a real ambiguity
        ((50_000, None), "Region 0"),  # an unknown population counts as none
        ((None, 50_000), "Region 1"),  # ... even when the geocoder lists it first
        ((None, None), None),  # nothing known: nothing to prefer
    ],
)
async def test_open_meteo_applies_the_same_dominance_rule_to_geocoder_populations(
    fake: FakeOpenMeteo, populations: tuple[int | None, ...], admin1: str | None
) -> None:
    fake.plan(SEARCH_PATH, _geocoded(*populations))
    if admin1 is None:
        error = await live_error(live(fake), location="Newtown")
        assert error.code == ErrorCode.AMBIGUOUS
        assert error.details["candidates"] == ["Newtown, Region 0, DE", "Newtown, Region 1, DE"]
        assert fake.requests_to(FORECAST_PATH) == []
        return
    report = await live(fake).report(WeatherRequest(location="Newtown"))
    assert report.location.admin1 == admin1
    (other,) = report.alternatives
    assert other.admin1 != admin1 and other.query == f"Newtown, {other.admin1}, DE"


async def test_open_meteo_empty_geocoding_is_not_found(fake: FakeOpenMeteo) -> None:
    error = await live_error(live(fake), location="Xyzzyville")
    assert error.code == ErrorCode.NOT_FOUND and "Xyzzyville" in error.message
    assert fake.requests_to(FORECAST_PATH) == []


async def test_open_meteo_retries_after_503(fake: FakeOpenMeteo) -> None:
    fake.plan(FORECAST_PATH, Planned(status=503, body={"error": True, "reason": "busy"}))
    report = await live(fake).report(WeatherRequest(latitude=10.0, longitude=10.0))
    assert report.current.temperature == 21.3
    assert len(fake.requests_to(FORECAST_PATH)) == 2


async def test_open_meteo_honours_retry_after_on_429(fake: FakeOpenMeteo) -> None:
    busy = Planned(status=429, body={"error": True, "reason": "Too many requests"}, headers={"Retry-After": "1"})
    fake.plan(FORECAST_PATH, busy)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=5.0, timeout_s=2.0, sleep=record)
    report = await live(fake, policy).report(WeatherRequest(latitude=10.0, longitude=10.0))
    assert report.live
    assert len(fake.requests_to(FORECAST_PATH)) == 2
    assert waits == [1.0]  # waited as asked, not the 0.01 s backoff


async def test_open_meteo_caps_a_huge_retry_after(fake: FakeOpenMeteo) -> None:
    quota = Planned(status=429, body={"error": True, "reason": "quota"}, headers={"Retry-After": "3600"})
    fake.plan(FORECAST_PATH, quota)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=2.0, timeout_s=2.0, sleep=record)
    report = await live(fake, policy).report(WeatherRequest(latitude=10.0, longitude=10.0))
    assert report.live
    assert len(fake.requests_to(FORECAST_PATH)) == 2
    assert waits == [2.0]  # an hour was asked for; the policy's cap won


async def test_open_meteo_persistent_500_is_upstream_error_after_bounded_retries(fake: FakeOpenMeteo) -> None:
    failure = Planned(status=500, body={"error": True, "reason": "database offline"})
    fake.plan(FORECAST_PATH, *[failure] * 10)
    error = await live_error(live(fake), latitude=10.0, longitude=10.0)
    assert error.code == ErrorCode.UPSTREAM_ERROR
    assert "HTTP 500" in error.message and "3 attempts" in error.message
    assert len(fake.requests_to(FORECAST_PATH)) == 3


async def test_open_meteo_error_json_is_surfaced_without_retry(fake: FakeOpenMeteo) -> None:
    reason = "Cannot initialize WeatherVariable from invalid String value tempeture_2m"
    fake.plan(FORECAST_PATH, Planned(status=400, body={"error": True, "reason": reason}))
    error = await live_error(live(fake), latitude=10.0, longitude=10.0)
    assert error.code == ErrorCode.UPSTREAM_ERROR
    assert reason in error.message and "HTTP 400" in error.message
    assert len(fake.requests_to(FORECAST_PATH)) == 1


async def test_open_meteo_timeout(fake: FakeOpenMeteo) -> None:
    fake.plan(FORECAST_PATH, Planned(delay=1.0), Planned(delay=1.0))
    policy = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.05, timeout_s=0.2)
    error = await live_error(live(fake, policy), latitude=10.0, longitude=10.0)
    assert error.code == ErrorCode.TIMEOUT
    assert "timed out after 0.2 s" in error.message and "2 attempts" in error.message


async def test_open_meteo_unreachable_is_upstream_error() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    provider = OpenMeteoProvider(dead + "/v1/search", dead + "/v1/forecast", policy=FAST)
    error = await live_error(provider, location="Berlin")
    assert error.code == ErrorCode.UPSTREAM_ERROR
    assert "Open-Meteo's geocoder is unavailable: connection failed" in error.message


@pytest.mark.parametrize(
    ("planned", "fragment"),
    [
        (Planned(status=200, raw=b"<html>maintenance</html>"), "not JSON"),
        (Planned(status=200, body={"error": True, "reason": "Latitude must be in range"}), "Latitude must be in range"),
        (Planned(status=200, body={"latitude": 1.0, "longitude": 2.0}), "no 'current' object"),
        (Planned(status=200, body=[1, 2, 3]), "not an object"),
    ],
)
async def test_open_meteo_malformed_answers_are_upstream_errors(
    fake: FakeOpenMeteo, planned: Planned, fragment: str
) -> None:
    fake.plan(FORECAST_PATH, planned)
    error = await live_error(live(fake), latitude=10.0, longitude=10.0)
    assert error.code == ErrorCode.UPSTREAM_ERROR and fragment in error.message


async def test_open_meteo_answer_in_wrong_units_is_refused(fake: FakeOpenMeteo) -> None:
    celsius = {
        "latitude": 10.0,
        "longitude": 10.0,
        "timezone": "GMT",
        "current_units": {"temperature_2m": "°C"},
        "current": {"time": "2026-03-02T12:00", "temperature_2m": 20.0},
        "daily_units": {"temperature_2m_max": "°C"},
        "daily": {"time": ["2026-03-02"], "temperature_2m_max": [25.0]},
    }
    fake.plan(FORECAST_PATH, Planned(status=200, body=celsius))
    error = await live_error(live(fake), latitude=10.0, longitude=10.0, units="imperial")
    assert error.code == ErrorCode.UPSTREAM_ERROR and "'°C'" in error.message and "'°F'" in error.message


async def test_open_meteo_urls_and_provider_from_environment(
    fake: FakeOpenMeteo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFBENCH_OPEN_METEO_GEOCODING_URL", fake.geocoding_url)
    monkeypatch.setenv("AFBENCH_OPEN_METEO_FORECAST_URL", fake.forecast_url)
    monkeypatch.setenv("AFBENCH_WEATHER_PROVIDER", "open-meteo")
    report = await get_weather(WeatherRequest(location="Sydney", units="imperial"))
    assert report.provider == "open-meteo" and report.location.country_code == "AU"
    assert len(fake.requests) == 2
    monkeypatch.setenv("AFBENCH_OPEN_METEO_FORECAST_URL", "ftp://example.org/forecast")
    with pytest.raises(ToolError) as caught:
        OpenMeteoProvider()
    assert caught.value.code == ErrorCode.NOT_CONFIGURED
    assert "AFBENCH_OPEN_METEO_FORECAST_URL" in caught.value.message
