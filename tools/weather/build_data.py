"""Builds ``tools/data/weather/cities.json``, the offline provider's fixed, deterministic data set.

Run ``python -m tools.weather.build_data`` to regenerate it (the JSON is committed; nothing runs this at
tool time). Each city has real metadata and June climate normals (the data set is dated 2026-06-15, so
southern-hemisphere cities are in winter). Its seven days of weather are drawn from a SHA-256-seeded
function of the city and the day index around those normals: plausible for the climate, identical on
every machine and never dependent on the clock, so benchmark answers can be checked against fixed values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any, NamedTuple

from tools._paths import DATA_DIR

AS_OF = dt.date(2026, 6, 15)
OBSERVATION_TIME = "12:00"
DAYS = 7
OUTPUT = DATA_DIR / "weather" / "cities.json"
NOTICE = (
    "Synthetic sample weather for benchmarking: plausible for each city's June climate, fixed to the as_of "
    "date, NOT observed or live data."
)


class Climate(NamedTuple):
    """June normals: mean daily max/min (°C), monthly rain (mm), rain days, humidity (%), wind (km/h)."""

    tmax: float
    tmin: float
    rain_mm: float
    wet_days: float
    humidity: float
    wind_kmh: float


class City(NamedTuple):
    id: str
    name: str
    country: str
    country_code: str
    admin1: str | None
    admin1_code: str | None
    latitude: float
    longitude: float
    timezone: str
    population: int
    aliases: tuple[str, ...]
    climate: Climate


US, GB, CA, AU = "United States", "United Kingdom", "Canada", "Australia"

CITIES: tuple[City, ...] = (
    # Names shared by several cities, so ambiguity and qualifiers get exercised.
    City("london-gb", "London", GB, "GB", "England", "ENG", 51.5074, -0.1278, "Europe/London", 8982000,
         ("Londres", "Londra"), Climate(21, 12, 45, 8, 70, 14)),
    City("london-ca", "London", CA, "CA", "Ontario", "ON", 42.9849, -81.2453, "America/Toronto", 422324,
         (), Climate(25, 13, 85, 11, 72, 14)),
    City("paris-fr", "Paris", "France", "FR", "Île-de-France", "IDF", 48.8566, 2.3522, "Europe/Paris",
         2102650, ("Paname",), Climate(23, 14, 50, 8, 68, 12)),
    City("paris-us-tx", "Paris", US, "US", "Texas", "TX", 33.6609, -95.5555, "America/Chicago", 24476,
         (), Climate(31, 20, 100, 8, 75, 13)),
    City("portland-us-or", "Portland", US, "US", "Oregon", "OR", 45.5152, -122.6784, "America/Los_Angeles",
         652503, ("PDX",), Climate(24, 12, 40, 6, 60, 10)),
    City("portland-us-me", "Portland", US, "US", "Maine", "ME", 43.6591, -70.2568, "America/New_York", 68408,
         (), Climate(23, 12, 90, 10, 72, 13)),
    City("springfield-us-il", "Springfield", US, "US", "Illinois", "IL", 39.7817, -89.6501, "America/Chicago",
         114394, (), Climate(29, 18, 110, 10, 72, 15)),
    City("springfield-us-ma", "Springfield", US, "US", "Massachusetts", "MA", 42.1015, -72.5898,
         "America/New_York", 155929, (), Climate(27, 15, 100, 11, 68, 11)),
    City("springfield-us-mo", "Springfield", US, "US", "Missouri", "MO", 37.2090, -93.2923, "America/Chicago",
         169176, (), Climate(29, 18, 130, 10, 75, 15)),
    City("cordoba-ar", "Córdoba", "Argentina", "AR", "Córdoba", "X", -31.4201, -64.1888,
         "America/Argentina/Cordoba", 1391000, (), Climate(19, 5, 8, 1, 65, 11)),
    City("cordoba-es", "Córdoba", "Spain", "ES", "Andalusia", "AN", 37.8882, -4.7794, "Europe/Madrid", 325708,
         ("Cordova",), Climate(33, 17, 10, 1, 42, 10)),
    City("lagos-ng", "Lagos", "Nigeria", "NG", "Lagos", "LA", 6.5244, 3.3792, "Africa/Lagos", 8048430,
         (), Climate(29, 23, 320, 20, 86, 12)),
    City("lagos-pt", "Lagos", "Portugal", "PT", "Faro", "08", 37.1028, -8.6730, "Europe/Lisbon", 31049,
         (), Climate(26, 16, 5, 1, 65, 17)),
    City("melbourne-au", "Melbourne", AU, "AU", "Victoria", "VIC", -37.8136, 144.9631, "Australia/Melbourne",
         5078193, (), Climate(14, 7, 50, 14, 80, 15)),
    City("melbourne-us-fl", "Melbourne", US, "US", "Florida", "FL", 28.0836, -80.6081, "America/New_York",
         84678, (), Climate(31, 22, 150, 13, 76, 13)),
    City("perth-au", "Perth", AU, "AU", "Western Australia", "WA", -31.9505, 115.8605, "Australia/Perth",
         2085973, (), Climate(19, 9, 130, 16, 78, 13)),
    City("perth-gb", "Perth", GB, "GB", "Scotland", "SCT", 56.3950, -3.4308, "Europe/London", 47430,
         (), Climate(18, 9, 60, 11, 76, 12)),
    # North America.
    City("new-york-us", "New York", US, "US", "New York", "NY", 40.7128, -74.0060, "America/New_York",
         8804190, ("NYC", "New York City", "Big Apple"), Climate(27, 19, 100, 10, 65, 15)),
    City("los-angeles-us", "Los Angeles", US, "US", "California", "CA", 34.0522, -118.2437,
         "America/Los_Angeles", 3898747, ("LA",), Climate(24, 16, 1, 0.3, 70, 12)),
    City("san-francisco-us", "San Francisco", US, "US", "California", "CA", 37.7749, -122.4194,
         "America/Los_Angeles", 808437, ("SF", "San Fran"), Climate(20, 12, 2, 1, 75, 20)),
    City("chicago-us", "Chicago", US, "US", "Illinois", "IL", 41.8781, -87.6298, "America/Chicago", 2746388,
         ("Chi-town",), Climate(27, 17, 95, 10, 68, 16)),
    City("miami-us", "Miami", US, "US", "Florida", "FL", 25.7617, -80.1918, "America/New_York", 442241,
         (), Climate(31, 25, 240, 17, 77, 13)),
    City("seattle-us", "Seattle", US, "US", "Washington", "WA", 47.6062, -122.3321, "America/Los_Angeles",
         737015, (), Climate(22, 12, 35, 7, 65, 11)),
    City("washington-us-dc", "Washington", US, "US", "District of Columbia", "DC", 38.9072, -77.0369,
         "America/New_York", 689545, ("Washington DC", "Washington D.C.", "DC"), Climate(30, 20, 95, 10, 66, 12)),
    City("denver-us", "Denver", US, "US", "Colorado", "CO", 39.7392, -104.9903, "America/Denver", 715522,
         (), Climate(28, 13, 45, 8, 45, 15)),
    City("phoenix-us", "Phoenix", US, "US", "Arizona", "AZ", 33.4484, -112.0740, "America/Phoenix", 1608139,
         (), Climate(40, 26, 1, 0.5, 15, 12)),
    City("anchorage-us", "Anchorage", US, "US", "Alaska", "AK", 61.2181, -149.9003, "America/Anchorage",
         291247, (), Climate(18, 9, 25, 8, 65, 13)),
    City("honolulu-us", "Honolulu", US, "US", "Hawaii", "HI", 21.3069, -157.8583, "Pacific/Honolulu", 350964,
         (), Climate(30, 23, 5, 6, 65, 20)),
    City("toronto-ca", "Toronto", CA, "CA", "Ontario", "ON", 43.6532, -79.3832, "America/Toronto", 2794356,
         (), Climate(25, 14, 70, 10, 68, 14)),
    City("vancouver-ca", "Vancouver", CA, "CA", "British Columbia", "BC", 49.2827, -123.1207,
         "America/Vancouver", 662248, (), Climate(19, 12, 50, 10, 72, 11)),
    City("montreal-ca", "Montréal", CA, "CA", "Quebec", "QC", 45.5017, -73.5673, "America/Toronto", 1762949,
         (), Climate(24, 14, 85, 12, 68, 14)),
    City("mexico-city-mx", "Mexico City", "Mexico", "MX", "Mexico City", "CMX", 19.4326, -99.1332,
         "America/Mexico_City", 9209944, ("Ciudad de México", "CDMX"), Climate(24, 13, 140, 21, 65, 9)),
    # South America.
    City("sao-paulo-br", "São Paulo", "Brazil", "BR", "São Paulo", "SP", -23.5505, -46.6333,
         "America/Sao_Paulo", 12325232, ("Sampa",), Climate(22, 13, 50, 5, 75, 9)),
    City("rio-de-janeiro-br", "Rio de Janeiro", "Brazil", "BR", "Rio de Janeiro", "RJ", -22.9068, -43.1729,
         "America/Sao_Paulo", 6747815, ("Rio",), Climate(26, 19, 70, 6, 78, 10)),
    City("buenos-aires-ar", "Buenos Aires", "Argentina", "AR", "Buenos Aires F.D.", "C", -34.6037, -58.3816,
         "America/Argentina/Buenos_Aires", 3075646, ("CABA",), Climate(15, 8, 60, 7, 78, 14)),
    City("lima-pe", "Lima", "Peru", "PE", "Lima", "LIM", -12.0464, -77.0428, "America/Lima", 8852000,
         (), Climate(19, 16, 1, 3, 84, 11)),
    City("bogota-co", "Bogotá", "Colombia", "CO", "Bogota D.C.", "DC", 4.7110, -74.0721, "America/Bogota",
         7743955, (), Climate(19, 8, 60, 15, 78, 8)),
    City("santiago-cl", "Santiago", "Chile", "CL", "Santiago Metropolitan", "RM", -33.4489, -70.6693,
         "America/Santiago", 6257516, ("Santiago de Chile",), Climate(15, 4, 80, 5, 80, 6)),
    # Europe.
    City("berlin-de", "Berlin", "Germany", "DE", "Berlin", "BE", 52.5200, 13.4050, "Europe/Berlin", 3677472,
         (), Climate(23, 12, 60, 9, 65, 13)),
    City("munich-de", "Munich", "Germany", "DE", "Bavaria", "BY", 48.1351, 11.5820, "Europe/Berlin", 1487708,
         ("München", "Muenchen"), Climate(22, 11, 120, 14, 70, 11)),
    City("madrid-es", "Madrid", "Spain", "ES", "Madrid", "MD", 40.4168, -3.7038, "Europe/Madrid", 3305408,
         (), Climate(30, 15, 20, 3, 40, 12)),
    City("rome-it", "Rome", "Italy", "IT", "Lazio", "62", 41.9028, 12.4964, "Europe/Rome", 2761632,
         ("Roma",), Climate(28, 16, 30, 4, 62, 12)),
    City("amsterdam-nl", "Amsterdam", "Netherlands", "NL", "North Holland", "NH", 52.3676, 4.9041,
         "Europe/Amsterdam", 921402, (), Climate(20, 11, 60, 9, 75, 18)),
    City("vienna-at", "Vienna", "Austria", "AT", "Vienna", "9", 48.2082, 16.3738, "Europe/Vienna", 1982097,
         ("Wien",), Climate(25, 15, 70, 10, 65, 15)),
    City("zurich-ch", "Zürich", "Switzerland", "CH", "Zurich", "ZH", 47.3769, 8.5417, "Europe/Zurich", 421878,
         ("Zuerich",), Climate(23, 12, 130, 13, 72, 9)),
    City("stockholm-se", "Stockholm", "Sweden", "SE", "Stockholm", "AB", 59.3293, 18.0686, "Europe/Stockholm",
         984748, (), Climate(21, 11, 50, 8, 65, 14)),
    City("oslo-no", "Oslo", "Norway", "NO", "Oslo", "03", 59.9139, 10.7522, "Europe/Oslo", 709037,
         (), Climate(21, 10, 65, 10, 62, 11)),
    City("reykjavik-is", "Reykjavík", "Iceland", "IS", "Capital Region", "1", 64.1466, -21.9426,
         "Atlantic/Reykjavik", 139875, (), Climate(13, 7, 45, 12, 78, 20)),
    City("dublin-ie", "Dublin", "Ireland", "IE", "Leinster", "L", 53.3498, -6.2603, "Europe/Dublin", 592713,
         ("Baile Átha Cliath",), Climate(18, 10, 60, 9, 75, 17)),
    City("lisbon-pt", "Lisbon", "Portugal", "PT", "Lisbon", "11", 38.7223, -9.1393, "Europe/Lisbon", 545923,
         ("Lisboa",), Climate(26, 16, 15, 2, 62, 17)),
    City("athens-gr", "Athens", "Greece", "GR", "Attica", "I", 37.9838, 23.7275, "Europe/Athens", 643452,
         ("Athina", "Αθήνα"), Climate(30, 21, 10, 2, 48, 13)),
    City("istanbul-tr", "Istanbul", "Turkey", "TR", "Istanbul", "34", 41.0082, 28.9784, "Europe/Istanbul",
         15655924, ("İstanbul", "Constantinople"), Climate(26, 18, 35, 5, 70, 16)),
    City("moscow-ru", "Moscow", "Russia", "RU", "Moscow", "MOW", 55.7558, 37.6173, "Europe/Moscow", 13010112,
         ("Moskva", "Москва"), Climate(22, 12, 80, 10, 67, 11)),
    # Africa and the Middle East.
    City("cairo-eg", "Cairo", "Egypt", "EG", "Cairo Governorate", "C", 30.0444, 31.2357, "Africa/Cairo",
         9539673, ("Al Qahirah", "القاهرة"), Climate(34, 22, 0, 0, 45, 15)),
    City("nairobi-ke", "Nairobi", "Kenya", "KE", "Nairobi County", "30", -1.2921, 36.8219, "Africa/Nairobi",
         4397073, (), Climate(22, 12, 40, 8, 68, 14)),
    City("cape-town-za", "Cape Town", "South Africa", "ZA", "Western Cape", "WC", -33.9249, 18.4241,
         "Africa/Johannesburg", 4772846, ("Kaapstad",), Climate(18, 8, 90, 11, 80, 17)),
    City("johannesburg-za", "Johannesburg", "South Africa", "ZA", "Gauteng", "GT", -26.2041, 28.0473,
         "Africa/Johannesburg", 5635127, ("Joburg", "Jozi"), Climate(17, 4, 8, 1, 45, 11)),
    City("casablanca-ma", "Casablanca", "Morocco", "MA", "Casablanca-Settat", "06", 33.5731, -7.5898,
         "Africa/Casablanca", 3359818, (), Climate(24, 17, 2, 1, 77, 14)),
    City("dubai-ae", "Dubai", "United Arab Emirates", "AE", "Dubai", "DU", 25.2048, 55.2708, "Asia/Dubai",
         3331420, (), Climate(39, 29, 0, 0, 55, 14)),
    City("riyadh-sa", "Riyadh", "Saudi Arabia", "SA", "Riyadh Region", "01", 24.7136, 46.6753, "Asia/Riyadh",
         7676654, (), Climate(43, 28, 0, 0, 12, 15)),
    # Asia and Oceania.
    City("mumbai-in", "Mumbai", "India", "IN", "Maharashtra", "MH", 19.0760, 72.8777, "Asia/Kolkata", 12442373,
         ("Bombay",), Climate(32, 27, 500, 22, 84, 18)),
    City("delhi-in", "Delhi", "India", "IN", "Delhi", "DL", 28.7041, 77.1025, "Asia/Kolkata", 11034555,
         ("New Delhi",), Climate(39, 29, 75, 6, 50, 12)),
    City("bangkok-th", "Bangkok", "Thailand", "TH", "Bangkok", "10", 13.7563, 100.5018, "Asia/Bangkok",
         10539000, ("Krung Thep",), Climate(33, 26, 160, 17, 76, 11)),
    City("singapore-sg", "Singapore", "Singapore", "SG", None, None, 1.3521, 103.8198, "Asia/Singapore",
         5685807, (), Climate(31, 26, 170, 14, 83, 10)),
    City("jakarta-id", "Jakarta", "Indonesia", "ID", "Jakarta", "JK", -6.2088, 106.8456, "Asia/Jakarta",
         10562088, (), Climate(32, 25, 90, 8, 78, 10)),
    City("beijing-cn", "Beijing", "China", "CN", "Beijing", "BJ", 39.9042, 116.4074, "Asia/Shanghai", 21542000,
         ("Peking", "北京"), Climate(31, 20, 75, 9, 58, 11)),
    City("shanghai-cn", "Shanghai", "China", "CN", "Shanghai", "SH", 31.2304, 121.4737, "Asia/Shanghai",
         24870895, ("上海",), Climate(28, 21, 240, 14, 80, 13)),
    City("hong-kong-hk", "Hong Kong", "Hong Kong", "HK", None, None, 22.3193, 114.1694, "Asia/Hong_Kong",
         7481800, ("香港",), Climate(31, 26, 450, 18, 82, 13)),
    City("tokyo-jp", "Tokyo", "Japan", "JP", "Tokyo", "13", 35.6762, 139.6503, "Asia/Tokyo", 13960000,
         ("東京",), Climate(26, 19, 170, 13, 77, 12)),
    City("seoul-kr", "Seoul", "South Korea", "KR", "Seoul", "11", 37.5665, 126.9780, "Asia/Seoul", 9586195,
         ("서울",), Climate(28, 18, 130, 10, 70, 10)),
    City("sydney-au", "Sydney", AU, "AU", "New South Wales", "NSW", -33.8688, 151.2093, "Australia/Sydney",
         5312163, (), Climate(17, 9, 130, 12, 72, 15)),
    City("auckland-nz", "Auckland", "New Zealand", "NZ", "Auckland", "AUK", -36.8485, 174.7633,
         "Pacific/Auckland", 1463000, ("Tāmaki Makaurau",), Climate(15, 9, 130, 19, 84, 16)),
)  # fmt: skip


def _unit(city_id: str, key: str) -> float:
    """Uniform number in (0, 1) fixed by the city and key: same value on every machine and run."""
    digest = hashlib.sha256(f"{city_id}|{key}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2**64


def _gauss(city_id: str, key: str) -> float:
    """Standard normal number fixed by the city and key (Box-Muller on two seeded uniforms)."""
    u1, u2 = _unit(city_id, key + ":a"), _unit(city_id, key + ":b")
    return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)


def apparent_temperature(temp_c: float, humidity: float, wind_kmh: float) -> float:
    """Steadman's apparent temperature (the Australian BoM formula Open-Meteo also uses)."""
    vapour_hpa = humidity / 100 * 6.105 * math.exp(17.27 * temp_c / (237.7 + temp_c))
    return temp_c + 0.33 * vapour_hpa - 0.70 * (wind_kmh / 3.6) - 4.0


def _weather_code(city: City, wet: bool, precip: float, tmax: float, day: int) -> int:
    climate = city.climate
    kind = _unit(city.id, f"kind{day}")
    if wet:
        if tmax <= 1.5:
            return 71 if precip < 2 else 73 if precip < 8 else 75
        if tmax >= 26 and climate.humidity >= 60 and kind < 0.35:
            return 95
        if precip < 1.0:
            return 51 if precip < 0.5 else 53
        if tmax >= 22 and kind < 0.6:
            return 80 if precip < 5 else 81 if precip < 20 else 82
        return 61 if precip < 5 else 63 if precip < 20 else 65
    cloud = _unit(city.id, f"cloud{day}")
    if climate.humidity >= 80 and cloud < 0.12:
        return 45
    cloudiness = 0.75 * cloud + 0.25 * max(0.0, climate.humidity - 30) / 60 + climate.wet_days / 60
    return 0 if cloudiness < 0.35 else 1 if cloudiness < 0.55 else 2 if cloudiness < 0.8 else 3


def _days(city: City) -> list[dict[str, Any]]:
    climate, key = city.climate, city.id
    anomaly = 1.5 * _gauss(key, "anomaly0")
    wet_before = False
    days: list[dict[str, Any]] = []
    for day in range(DAYS):
        if day:
            # Weather persists: each day's anomaly carries most of the previous one (AR(1)).
            anomaly = 0.6 * anomaly + 1.3 * _gauss(key, f"anomaly{day}")
        chance = min(0.95, climate.wet_days / 30 + (0.15 if wet_before else 0.0))
        wet = climate.wet_days > 0 and _unit(key, f"wet{day}") < chance
        tmax = climate.tmax + anomaly + 0.6 * _gauss(key, f"tmax{day}") - (1.5 if wet else 0.0)
        tmin = climate.tmin + 0.7 * anomaly + 0.6 * _gauss(key, f"tmin{day}")
        tmin = min(tmin, tmax - 2.0)
        precip = 0.0
        if wet:
            mean = climate.rain_mm / climate.wet_days
            precip = max(0.2, -mean * math.log(1 - 0.98 * _unit(key, f"amount{day}")))
        if wet:
            probability = min(100, round(45 + 50 * _unit(key, f"probability{day}")))
        else:
            probability = round(_unit(key, f"probability{day}") * min(30.0, 100 * chance))
        wind = climate.wind_kmh * (0.75 + 0.6 * _unit(key, f"wind{day}")) * (1.15 if wet else 1.0)
        days.append(
            {
                "date": (AS_OF + dt.timedelta(days=day)).isoformat(),
                "weather_code": _weather_code(city, wet, precip, tmax, day),
                "temperature_max": round(tmax, 1),
                "temperature_min": round(tmin, 1),
                "precipitation_sum": round(precip, 1),
                "precipitation_probability_max": probability,
                "wind_speed_max": round(wind, 1),
            }
        )
        wet_before = wet
    return days


def _current(city: City, today: dict[str, Any]) -> dict[str, Any]:
    key = city.id
    wet = today["precipitation_sum"] > 0
    low, high = today["temperature_min"], today["temperature_max"]
    temperature = round(low + 0.8 * (high - low) + 0.3 * _gauss(key, "now-temp"), 1)
    humidity = round(city.climate.humidity - 10 + 8 * _gauss(key, "now-humidity") + (12 if wet else 0))
    humidity = max(8, min(100, humidity))
    wind = round(today["wind_speed_max"] * (0.45 + 0.3 * _unit(key, "now-wind")), 1)
    precipitation = round(max(0.1, today["precipitation_sum"] * (0.05 + 0.15 * _unit(key, "now-rain"))), 1)
    return {
        "time": f"{AS_OF.isoformat()}T{OBSERVATION_TIME}",
        "temperature": temperature,
        "apparent_temperature": round(apparent_temperature(temperature, humidity, wind), 1),
        "relative_humidity": humidity,
        "precipitation": precipitation if wet else 0.0,
        "weather_code": today["weather_code"],
        "wind_speed": wind,
        "wind_direction": int(_unit(key, "now-direction") * 360) % 360,
    }


def build() -> dict[str, Any]:
    """The whole data set as JSON-ready data."""
    cities = []
    for city in CITIES:
        daily = _days(city)
        cities.append(
            {
                "id": city.id,
                "name": city.name,
                "country": city.country,
                "country_code": city.country_code,
                "admin1": city.admin1,
                "admin1_code": city.admin1_code,
                "latitude": city.latitude,
                "longitude": city.longitude,
                "timezone": city.timezone,
                "population": city.population,
                "aliases": list(city.aliases),
                "climate_june": city.climate._asdict(),
                "current": _current(city, daily[0]),
                "daily": daily,
            }
        )
    return {
        "as_of": AS_OF.isoformat(),
        "notice": NOTICE,
        "generator": "python -m tools.weather.build_data",
        "units": {"temperature": "°C", "wind_speed": "km/h", "precipitation": "mm"},
        "cities": cities,
    }


def render() -> str:
    return json.dumps(build(), ensure_ascii=False, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    target = Path(argv[0]) if argv else OUTPUT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {len(CITIES)} cities to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
