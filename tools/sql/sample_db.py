"""Deterministic builder of the bundled sample database for Kestrel Systems Ltd (fictional UK B2B IoT seller).

Everything comes from one seeded ``random.Random`` and fixed reference dates, and rows are inserted in a
fixed order, so every build has identical content (:func:`content_hash`). The data plants a few facts that
benchmark tasks ask about, with clear margins so they are unambiguous:

* the top customer by revenue is Harrowgate Water Services Ltd;
* the month with the most orders is March 2024 (Kestrel Hub H2 launch);
* the best-selling product by units is the Kestrel Beacon B200;
* the product with the most support tickets is the Kestrel Hub H1 (discontinued on 2024-06-30);
* London & South East is the region with the most customers.

Run ``python -m tools.sql.sample_db [--out PATH]`` to build it; tools find it via
:func:`default_database_path`, which rebuilds the cached copy when :data:`BUILD_VERSION` changes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import sqlite3
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tools._paths import cache_dir
from tools.sql.readonly import readonly_uri
from tools.sql.sample_schema import DDL, DOCS_TABLE, SCHEMA_DOCS, TABLE_ORDER

# Bump whenever the schema, the docs or the generator change: cached copies with another version are rebuilt.
BUILD_VERSION = 1
# "KEST": marks files built here, so a foreign database at the cache path is never mistaken for ours.
APPLICATION_ID = 0x4B455354
SEED = 20_240_917
AS_OF = date(2025, 1, 15)  # "today" inside the data: invoice statuses and open tickets are as of this date
FIRST_ORDER_MONTH = (2023, 1)
MONTHS = 24
SAMPLE_DB_NAME = "sample.sqlite"

Row = tuple[Any, ...]

REGIONS: list[Row] = [
    (1, "London & South East", "GB", "UK"),
    (2, "South West", "GB", "UK"),
    (3, "Midlands", "GB", "UK"),
    (4, "North West", "GB", "UK"),
    (5, "North East & Yorkshire", "GB", "UK"),
    (6, "Scotland", "GB", "UK"),
    (7, "Wales", "GB", "UK"),
    (8, "Northern Ireland", "GB", "UK"),
    (9, "Ireland", "IE", "Ireland"),
    (10, "Benelux", "NL", "Europe"),
    (11, "DACH", "DE", "Europe"),
    (12, "Nordics", "SE", "Europe"),
]
# Relative share of customers per region; London & South East leads clearly.
REGION_WEIGHTS = {1: 30, 2: 9, 3: 14, 4: 13, 5: 11, 6: 9, 7: 5, 8: 3, 9: 6, 10: 6, 11: 7, 12: 4}
CITIES = {
    1: ["London", "Reading", "Guildford", "Brighton", "Maidstone", "Milton Keynes"],
    2: ["Bristol", "Exeter", "Plymouth", "Swindon", "Bath"],
    3: ["Birmingham", "Nottingham", "Leicester", "Coventry", "Derby"],
    4: ["Manchester", "Liverpool", "Preston", "Warrington", "Chester"],
    5: ["Leeds", "Sheffield", "Newcastle upon Tyne", "York", "Harrogate", "Hull"],
    6: ["Glasgow", "Edinburgh", "Aberdeen", "Dundee", "Inverness"],
    7: ["Cardiff", "Swansea", "Newport", "Wrexham"],
    8: ["Belfast", "Derry", "Lisburn"],
    9: ["Dublin", "Cork", "Galway", "Limerick"],
    10: ["Rotterdam", "Amsterdam", "Eindhoven", "Antwerp", "Utrecht"],
    11: ["Munich", "Hamburg", "Stuttgart", "Zurich", "Vienna"],
    12: ["Stockholm", "Gothenburg", "Copenhagen", "Oslo"],
}
COMPANY_SUFFIX = {10: ["B.V.", "N.V."], 11: ["GmbH", "AG"], 12: ["AB", "A/S"]}

DEPARTMENTS: list[Row] = [
    (1, "Executive", "CC-100"),
    (2, "Sales", "CC-200"),
    (3, "Customer Support", "CC-300"),
    (4, "Engineering", "CC-400"),
    (5, "Finance", "CC-500"),
    (6, "Marketing", "CC-600"),
    (7, "Operations", "CC-700"),
]

# (product_id, sku, name, line, category, price, cost, billing, launch, discontinued, weight, quantity range)
PRODUCTS: list[tuple[int, str, str, str, str, float, float, str, str, str | None, float, tuple[int, int]]] = [
    (
        1,
        "KB-B100",
        "Kestrel Beacon B100",
        "Kestrel Beacon",
        "sensor",
        49.0,
        18.5,
        "one_off",
        "2021-03-01",
        None,
        0.20,
        (10, 120),
    ),
    (
        2,
        "KB-B200",
        "Kestrel Beacon B200",
        "Kestrel Beacon",
        "sensor",
        89.0,
        33.75,
        "one_off",
        "2022-01-10",
        None,
        0.31,
        (10, 160),
    ),
    (
        3,
        "KB-B300",
        "Kestrel Beacon B300",
        "Kestrel Beacon",
        "sensor",
        149.0,
        61.2,
        "one_off",
        "2023-06-05",
        None,
        0.13,
        (5, 60),
    ),
    (
        4,
        "KH-H1",
        "Kestrel Hub H1",
        "Kestrel Hub",
        "gateway",
        399.0,
        171.0,
        "one_off",
        "2020-09-01",
        "2024-06-30",
        0.11,
        (1, 6),
    ),
    (5, "KH-H2", "Kestrel Hub H2", "Kestrel Hub", "gateway", 649.0, 262.5, "one_off", "2024-03-04", None, 0.11, (1, 8)),
    (
        6,
        "KC-STARTER",
        "Kestrel Cloud Starter",
        "Kestrel Cloud",
        "subscription",
        120.0,
        22.0,
        "annual",
        "2021-03-01",
        None,
        0.07,
        (3, 25),
    ),
    (
        7,
        "KC-TEAM",
        "Kestrel Cloud Team",
        "Kestrel Cloud",
        "subscription",
        300.0,
        48.0,
        "annual",
        "2021-03-01",
        None,
        0.05,
        (5, 60),
    ),
    (
        8,
        "KC-ENT",
        "Kestrel Cloud Enterprise",
        "Kestrel Cloud",
        "subscription",
        780.0,
        95.0,
        "annual",
        "2022-09-12",
        None,
        0.02,
        (20, 150),
    ),
]
PRICE_RISE = date(2024, 1, 1)  # list prices rose 5% on this date; earlier order lines carry the old price

FIRST_NAMES = [
    "Oliver",
    "Amelia",
    "Harry",
    "Isla",
    "Jack",
    "Ava",
    "Noah",
    "Mia",
    "Leo",
    "Grace",
    "Arjun",
    "Zara",
    "Ewan",
    "Niamh",
    "Rhys",
    "Seren",
    "Kwame",
    "Chloe",
    "Mateusz",
    "Freya",
    "Ibrahim",
    "Ella",
    "Liam",
    "Sofia",
    "Connor",
    "Ruby",
    "Yusuf",
    "Evie",
    "Finlay",
    "Hannah",
    "Dylan",
    "Maya",
    "Lars",
    "Anouk",
]
LAST_NAMES = [
    "Smith",
    "Patel",
    "Jones",
    "Williams",
    "Brown",
    "Taylor",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Khan",
    "Walker",
    "Wright",
    "Robinson",
    "Thompson",
    "White",
    "Hughes",
    "Edwards",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Murphy",
    "Kaur",
    "Kowalski",
    "Fraser",
    "Byrne",
    "Jansen",
    "Lindqvist",
    "Schmidt",
    "Ahmed",
]
PLACE_WORDS = [
    "Pennine",
    "Severn",
    "Thames",
    "Cotswold",
    "Mersey",
    "Tyne",
    "Clyde",
    "Humber",
    "Solent",
    "Avon",
    "Trent",
    "Medway",
    "Wessex",
    "Mercia",
    "Caledonian",
    "Kentish",
    "Fenland",
    "Chiltern",
    "Malvern",
    "Cheviot",
    "Lomond",
    "Brecon",
    "Mourne",
    "Liffey",
    "Shannon",
    "Rhine",
    "Maas",
    "Elbe",
    "Baltic",
    "Nordhavn",
    "Alpine",
    "Schelde",
    "Lakeland",
    "Peak",
    "Dales",
    "Moorland",
    "Weald",
    "Downs",
    "Ribble",
    "Wye",
    "Usk",
    "Tay",
    "Forth",
    "Spey",
    "Derwent",
    "Calder",
    "Ouse",
    "Tamar",
    "Exe",
    "Itchen",
]
INDUSTRIES: dict[str, list[str]] = {
    "Water utilities": ["Water", "Water Services", "Utilities"],
    "Cold-chain logistics": ["Cold Chain", "Logistics", "Freight"],
    "Food manufacturing": ["Foods", "Dairies", "Bakeries"],
    "Pharmaceuticals": ["Pharma", "Life Sciences", "Laboratories"],
    "Facilities management": ["Facilities", "Property Services", "Estates"],
    "Energy": ["Energy", "Power", "Renewables"],
    "Agriculture": ["Farms", "Agritech", "Growers"],
    "Data centres": ["Data Centres", "Hosting", "Digital Infrastructure"],
    "Manufacturing": ["Engineering", "Precision Components", "Manufacturing"],
    "Healthcare": ["Healthcare", "Medical", "Clinics"],
}
COMPANY_SIZES = [("1-49", 0.25, 10_000), ("50-249", 0.4, 25_000), ("250-999", 0.25, 60_000), ("1000+", 0.1, 150_000)]

N_CUSTOMERS = 180
STAR_CUSTOMER_ID = 24  # Harrowgate Water Services Ltd: planted top customer by revenue
STAR_CUSTOMER_NAME = "Harrowgate Water Services Ltd"
PEAK_MONTH = (2024, 3)  # planted month with the most orders (Kestrel Hub H2 launch campaign)

TICKET_SUBJECTS: dict[str, list[str]] = {
    "connectivity": [
        "Gateway keeps dropping off the network",
        "Sensors not reporting to hub since last night",
        "LoRaWAN range much shorter than expected",
        "Hub shows offline in dashboard but LEDs are green",
    ],
    "firmware": [
        "Firmware update failed half way, hub unresponsive",
        "Hub reboots every few hours after update",
        "Request for firmware release notes",
    ],
    "hardware_fault": [
        "Beacon battery draining within weeks",
        "Temperature readings 3 degrees too high",
        "Sensor casing cracked on arrival",
        "Vibration sensor reporting constant zero",
    ],
    "calibration": ["Humidity calibration drift", "How do we recalibrate the gas sensor?"],
    "onboarding": [
        "Need help adding new users to Kestrel Cloud",
        "SSO setup with Azure AD",
        "Importing site map into dashboard",
    ],
    "feature_request": ["Export readings to CSV on a schedule", "Custom alert thresholds per site"],
    "billing": ["Invoice shows wrong VAT number", "Request copy of invoice", "Query about seat count on renewal"],
}
PRODUCT_TICKET_CATEGORIES = {
    "sensor": ["hardware_fault", "hardware_fault", "calibration", "connectivity"],
    "gateway": ["connectivity", "connectivity", "firmware", "firmware", "hardware_fault"],
    "subscription": ["onboarding", "onboarding", "feature_request", "billing"],
}


@dataclass
class _Employee:
    row: list[Any]

    @property
    def id(self) -> int:
        return int(self.row[0])


@dataclass
class _Customer:
    customer_id: int
    region_id: int
    created: date
    churned: date | None
    weight: float
    reps: list[tuple[date, int]]  # (from date, sales rep) history, oldest first


def _d(text: str) -> date:
    return date.fromisoformat(text)


def _weighted(rng: random.Random, items: Sequence[Any], weights: Sequence[float]) -> Any:
    return rng.choices(list(items), weights=list(weights), k=1)[0]


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


class _Generator:
    """Builds every table's rows in memory; all randomness flows through one seeded generator."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.used_names: set[tuple[str, str]] = set()
        self.employees: list[_Employee] = []
        self.sales_teams: dict[int, list[int]] = {}  # region_id -> active reps covering it
        self.rep_history: dict[int, list[tuple[date, int]]] = {}
        self.support_agents: list[tuple[int, date, date | None]] = []
        self.customers: list[_Customer] = []
        self.rows: dict[str, list[Row]] = {name: [] for name in TABLE_ORDER}

    # -- people -------------------------------------------------------------------------------------------
    def _person(self) -> tuple[str, str]:
        while True:
            name = (self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES))
            if name not in self.used_names:
                self.used_names.add(name)
                return name

    def _add_employee(
        self,
        title: str,
        department: int,
        manager: int | None,
        region: int | None,
        hired: str,
        salary: int,
        name: tuple[str, str] | None = None,
        active: bool = True,
    ) -> int:
        first, last = name or self._person()
        self.used_names.add((first, last))
        employee_id = len(self.employees) + 1
        email = f"{first}.{last}".lower().replace(" ", "") + "@kestrel-systems.co.uk"
        row = [employee_id, first, last, email, title, department, manager, region, hired, salary, int(active)]
        self.employees.append(_Employee(row))
        return employee_id

    def build_people(self) -> None:
        rng = self.rng
        ceo = self._add_employee(
            "Chief Executive Officer", 1, None, None, "2016-04-01", 185_000, ("Margaret", "Ashdown")
        )
        sales_head = self._add_employee("Head of Sales", 2, ceo, None, "2017-02-13", 121_000, ("David", "Okafor"))
        support_head = self._add_employee(
            "Head of Customer Support", 3, ceo, None, "2018-05-08", 92_000, ("Priya", "Raman")
        )
        eng_head = self._add_employee("Head of Engineering", 4, ceo, None, "2016-09-19", 135_000, ("Tomasz", "Nowak"))
        finance_head = self._add_employee(
            "Finance Director", 5, ceo, None, "2019-01-07", 118_000, ("Fiona", "Campbell")
        )
        marketing_head = self._add_employee(
            "Marketing Manager", 6, ceo, None, "2020-03-02", 78_000, ("Gareth", "Hughes")
        )
        ops_head = self._add_employee("Operations Manager", 7, ceo, None, "2019-10-14", 74_000, ("Aisha", "Bello"))

        teams = [
            ("UK South", ("Helen", "Marsh"), [1, 1, 2, 7]),
            ("UK North", ("Callum", "Reid"), [3, 4, 5, 6, 8]),
            ("International", ("Sophie", "van Dijk"), [9, 10, 11, 12]),
        ]
        leaver_region = 4  # one North West rep left mid-2024; a successor took over the accounts
        for team, manager_name, regions in teams:
            manager = self._add_employee(
                f"Regional Sales Manager, {team}",
                2,
                sales_head,
                regions[0],
                f"2018-0{rng.randint(1, 9)}-01",
                82_000 + rng.randint(0, 8) * 1000,
                manager_name,
            )
            for region in regions:
                hired = date(2018, 1, 8) + timedelta(days=rng.randint(0, 1700))
                salary = 46_000 + rng.randint(0, 18) * 1000
                if region == leaver_region:
                    left = _d("2024-06-28")
                    leaver = self._add_employee(
                        "Sales Representative", 2, manager, region, hired.isoformat(), salary, active=False
                    )
                    successor = self._add_employee("Sales Representative", 2, manager, region, "2024-06-03", 47_000)
                    self.rep_history.setdefault(region, []).extend([(date.min, leaver), (left, successor)])
                    self.sales_teams.setdefault(region, []).append(successor)
                else:
                    rep = self._add_employee("Sales Representative", 2, manager, region, hired.isoformat(), salary)
                    self.sales_teams.setdefault(region, []).append(rep)
        for i in range(6):
            hired = date(2018, 9, 3) + timedelta(days=rng.randint(0, 1900))
            active = i != 4
            agent = self._add_employee(
                "Support Engineer" if i % 3 else "Senior Support Engineer",
                3,
                support_head,
                None,
                hired.isoformat(),
                38_000 + rng.randint(0, 14) * 1000,
                active=active,
            )
            self.support_agents.append((agent, hired, None if active else _d("2024-02-29")))
        for title, head, dept, count, base in [
            ("Firmware Engineer", eng_head, 4, 3, 58_000),
            ("Cloud Platform Engineer", eng_head, 4, 2, 62_000),
            ("Accounts Assistant", finance_head, 5, 2, 31_000),
            ("Credit Controller", finance_head, 5, 1, 36_000),
            ("Marketing Executive", marketing_head, 6, 2, 34_000),
            ("Logistics Coordinator", ops_head, 7, 3, 30_000),
        ]:
            for _ in range(count):
                hired = date(2017, 5, 1) + timedelta(days=rng.randint(0, 2500))
                self._add_employee(title, dept, head, None, hired.isoformat(), base + rng.randint(0, 12) * 1000)
        self.rows["employees"] = [tuple(e.row) for e in self.employees]

    # -- customers ----------------------------------------------------------------------------------------
    def build_customers(self) -> None:
        rng = self.rng
        names: set[str] = {STAR_CUSTOMER_NAME}
        region_ids = list(REGION_WEIGHTS)
        for customer_id in range(1, N_CUSTOMERS + 1):
            if customer_id == STAR_CUSTOMER_ID:
                region, industry, city, size, credit = 5, "Water utilities", "Harrogate", "1000+", 250_000
                name, weight = STAR_CUSTOMER_NAME, 6.0
                created = date(2019, 5, 20)
                churned = None
            else:
                region = _weighted(rng, region_ids, list(REGION_WEIGHTS.values()))
                industry = rng.choice(list(INDUSTRIES))
                while True:
                    suffix = rng.choice(COMPANY_SUFFIX.get(region, ["Ltd", "Ltd", "Ltd", "plc", "Group"]))
                    name = f"{rng.choice(PLACE_WORDS)} {rng.choice(INDUSTRIES[industry])} {suffix}"
                    if name not in names:
                        break
                city = rng.choice(CITIES[region])
                size, _, credit = _weighted(rng, COMPANY_SIZES, [s[1] for s in COMPANY_SIZES])
                weight = {"1-49": 0.5, "50-249": 1.0, "250-999": 1.7, "1000+": 2.6}[size] * rng.uniform(0.5, 1.5)
                created = date(2019, 1, 7) + timedelta(days=rng.randint(0, 2060))
                churned = None
                if rng.random() < 0.08 and created < date(2023, 6, 1):
                    churned = date(2023, 7, 1) + timedelta(days=rng.randint(0, 400))
            names.add(name)
            reps = self.rep_history.get(region) or [(date.min, rng.choice(self.sales_teams[region]))]
            if region == 4 and len(reps) == 2 and rng.random() < 0.4:
                # not every North West account belonged to the leaver
                reps = [(date.min, rng.choice(self.sales_teams[region]))]
            status = "churned" if churned else ("on_hold" if rng.random() < 0.04 else "active")
            self.customers.append(_Customer(customer_id, region, created, churned, weight, reps))
            self.rows["customers"].append(
                (customer_id, name, industry, region, city, reps[-1][1], size, credit, created.isoformat(), status)
            )

    # -- orders -------------------------------------------------------------------------------------------
    def _monthly_counts(self) -> list[tuple[int, int, int]]:
        counts = []
        year, month = FIRST_ORDER_MONTH
        for i in range(MONTHS):
            seasonal = {8: -9, 12: -11, 9: 4, 10: 5, 11: 3}.get(month, 0)
            counts.append((year, month, 44 + int(i * 0.9) + seasonal + self.rng.randint(-4, 4)))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        peak = max(c for _, _, c in counts) + 18
        return [(y, m, peak if (y, m) == PEAK_MONTH else c) for y, m, c in counts]

    def _rep_for(self, customer: _Customer, on: date) -> int:
        rep = customer.reps[0][1]
        for since, candidate in customer.reps:
            if on >= since:
                rep = candidate
        return rep

    def build_orders(self) -> None:
        rng = self.rng
        order_id = 0
        item_id = 0
        for year, month, count in self._monthly_counts():
            next_month = date(year + (month == 12), month % 12 + 1, 1)
            days = (next_month - date(year, month, 1)).days
            dates = sorted(date(year, month, rng.randint(1, days)) for _ in range(count))
            for order_date in dates:
                eligible = [
                    c
                    for c in self.customers
                    if c.created <= order_date and (c.churned is None or order_date < c.churned)
                ]
                customer = _weighted(rng, eligible, [c.weight for c in eligible])
                order_id += 1
                channel = _weighted(rng, ["direct", "partner", "web"], [0.55, 0.3, 0.15])
                if customer.customer_id == STAR_CUSTOMER_ID:
                    channel = "direct"
                status = "delivered"
                if rng.random() < 0.04:
                    status = "cancelled"
                elif order_date > date(2024, 12, 20):
                    status = _weighted(rng, ["pending", "shipped"], [0.6, 0.4])
                elif order_date > date(2024, 12, 5):
                    status = _weighted(rng, ["shipped", "delivered"], [0.5, 0.5])
                items = self._order_lines(order_date, customer, channel)
                hardware = any(PRODUCTS[p - 1][4] != "subscription" for p, _, _, _ in items)
                subtotal = sum(q * price * (1 - disc / 100) for _, q, price, disc in items)
                shipping = 0.0 if not hardware or subtotal >= 1000 else (12.5 if subtotal < 250 else 25.0)
                rep = self._rep_for(customer, order_date)
                self.rows["orders"].append(
                    (
                        order_id,
                        f"KS-{year}-{order_id:05d}",
                        customer.customer_id,
                        rep,
                        order_date.isoformat(),
                        status,
                        channel,
                        shipping,
                    )
                )
                for product_id, quantity, price, discount in items:
                    item_id += 1
                    self.rows["order_items"].append((item_id, order_id, product_id, quantity, price, discount))
                if status != "cancelled" and status != "pending":
                    self._invoice(order_id, customer.customer_id, order_date, _money(subtotal + shipping))

    def _order_lines(self, on: date, customer: _Customer, channel: str) -> list[tuple[int, int, float, float]]:
        rng = self.rng
        available = [p for p in PRODUCTS if _d(p[8]) <= on and (p[9] is None or on <= _d(p[9]))]
        n_lines = min(len(available), _weighted(rng, [1, 2, 3, 4], [0.45, 0.3, 0.17, 0.08]))
        chosen: list[Any] = []
        pool = list(available)
        for _ in range(n_lines):
            product = _weighted(rng, pool, [p[10] for p in pool])
            pool.remove(product)
            chosen.append(product)
        chosen.sort(key=lambda p: p[0])
        lines = []
        for product in chosen:
            low, high = product[11]
            quantity = rng.randint(low, high)
            if channel == "web":
                quantity = max(1, quantity // 4)
            if customer.customer_id == STAR_CUSTOMER_ID:
                quantity *= 2
            price = product[5] if on >= PRICE_RISE else _money(product[5] / 1.05)
            discount = _weighted(rng, [0.0, 5.0, 10.0, 12.5, 15.0, 20.0], [0.55, 0.15, 0.14, 0.06, 0.06, 0.04])
            if channel == "partner":
                discount += 5.0
            lines.append((product[0], quantity, price, discount))
        return lines

    # -- invoices and payments ----------------------------------------------------------------------------
    def _invoice(self, order_id: int, customer_id: int, order_date: date, net: float) -> None:
        rng = self.rng
        invoice_id = len(self.rows["invoices"]) + 1
        issued = min(order_date + timedelta(days=rng.randint(0, 3)), AS_OF)
        due = issued + timedelta(days=30)
        vat = _money(net * 0.2)
        total = _money(net + vat)
        behaviour = _weighted(
            rng, ["on_time", "late", "instalments", "partial", "unpaid"], [0.72, 0.17, 0.06, 0.02, 0.03]
        )
        payments: list[tuple[date, float]] = []
        if behaviour == "on_time":
            payments = [(issued + timedelta(days=rng.randint(3, 30)), total)]
        elif behaviour == "late":
            payments = [(issued + timedelta(days=rng.randint(31, 90)), total)]
        elif behaviour == "instalments":
            first = _money(total * rng.choice([0.3, 0.4, 0.5]))
            payments = [
                (issued + timedelta(days=rng.randint(5, 25)), first),
                (issued + timedelta(days=rng.randint(28, 60)), _money(total - first)),
            ]
        elif behaviour == "partial":
            payments = [(issued + timedelta(days=rng.randint(10, 40)), _money(total * rng.choice([0.25, 0.5])))]
        payments = [(day, amount) for day, amount in payments if day <= AS_OF]
        paid = _money(sum(amount for _, amount in payments))
        if paid >= total:
            status = "paid"
        elif due < AS_OF:
            status = "overdue"
        elif paid > 0:
            status = "partially_paid"
        else:
            status = "open"
        self.rows["invoices"].append(
            (
                invoice_id,
                f"INV-{issued.year}-{invoice_id:06d}",
                order_id,
                customer_id,
                issued.isoformat(),
                due.isoformat(),
                net,
                vat,
                total,
                status,
            )
        )
        for day, amount in payments:
            payment_id = len(self.rows["payments"]) + 1
            method = _weighted(rng, ["bank_transfer", "card", "direct_debit"], [0.6, 0.15, 0.25])
            self.rows["payments"].append(
                (payment_id, invoice_id, day.isoformat(), amount, method, f"KS{invoice_id:06d}-{payment_id:05d}")
            )

    # -- support ------------------------------------------------------------------------------------------
    def build_tickets(self) -> None:
        rng = self.rng
        start = datetime(2023, 1, 3, 8, 0)
        end = datetime(AS_OF.year, AS_OF.month, AS_OF.day, 8, 0)
        span = int((end - start).total_seconds() // 60)
        openings = sorted(start + timedelta(minutes=rng.randint(0, span)) for _ in range(520))
        product_ids = [None, 1, 2, 3, 4, 5, 6, 7, 8]
        product_weights = [0.07, 0.1, 0.15, 0.09, 0.33, 0.1, 0.07, 0.06, 0.03]
        for ticket_id, opened in enumerate(openings, start=1):
            on = opened.date()
            product_id = _weighted(rng, product_ids, product_weights)
            product = PRODUCTS[product_id - 1] if product_id else None
            if product and (_d(product[8]) > on):
                product_id, product = 4, PRODUCTS[3]  # before B300/H2 launched the complaints were about H1
            eligible = [c for c in self.customers if c.created <= on and (c.churned is None or on < c.churned)]
            customer = _weighted(rng, eligible, [c.weight for c in eligible])
            category = (
                rng.choice(PRODUCT_TICKET_CATEGORIES[product[4]])
                if product
                else rng.choice(["billing", "billing", "onboarding"])
            )
            subject = rng.choice(TICKET_SUBJECTS[category])
            priority = _weighted(rng, ["low", "medium", "high", "urgent"], [0.3, 0.4, 0.22, 0.08])
            agents = [a for a, hired, left in self.support_agents if hired <= on and (left is None or on < left)]
            agent = rng.choice(agents)
            hours = rng.expovariate(1 / {"urgent": 6, "high": 20, "medium": 50, "low": 110}[priority])
            closes_at = opened + timedelta(minutes=int(hours * 60) + 15)
            closed = None if closes_at > end or rng.random() < 0.02 else closes_at
            if closed is None:
                status = _weighted(rng, ["open", "in_progress"], [0.5, 0.5])
                score = None
            else:
                status = _weighted(rng, ["resolved", "closed"], [0.35, 0.65])
                base = [1, 2, 3, 4, 5]
                weights = [0.12, 0.18, 0.3, 0.25, 0.15] if product_id == 4 else [0.03, 0.07, 0.2, 0.35, 0.35]
                score = _weighted(rng, base, weights) if rng.random() < 0.8 else None
            self.rows["support_tickets"].append(
                (
                    ticket_id,
                    customer.customer_id,
                    product_id,
                    agent,
                    opened.strftime("%Y-%m-%d %H:%M:%S"),
                    closed.strftime("%Y-%m-%d %H:%M:%S") if closed else None,
                    priority,
                    status,
                    category,
                    subject,
                    score,
                )
            )

    def build(self) -> dict[str, list[Row]]:
        self.rows["regions"] = list(REGIONS)
        self.rows["departments"] = list(DEPARTMENTS)
        self.build_people()
        self.build_customers()
        self.rows["products"] = [p[:10] for p in PRODUCTS]
        self.build_orders()
        self.build_tickets()
        return self.rows


def _docs_rows() -> list[Row]:
    rows: list[Row] = []
    for table, (description, columns) in SCHEMA_DOCS.items():
        rows.append((table, "", description))
        rows.extend((table, column, text) for column, text in columns.items())
    return rows


def _write(conn: sqlite3.Connection, rows: dict[str, list[Row]]) -> None:
    conn.executescript(DDL)
    conn.execute("PRAGMA foreign_keys = ON")
    for table in (*TABLE_ORDER, DOCS_TABLE):
        data = _docs_rows() if table == DOCS_TABLE else rows[table]
        placeholders = ", ".join("?" * len(data[0]))
        conn.executemany(f'INSERT INTO "{table}" VALUES ({placeholders})', data)
    conn.commit()
    problems = conn.execute("PRAGMA foreign_key_check").fetchall()
    if problems:  # a generator bug, never a user error
        raise RuntimeError(f"sample database violates foreign keys: {problems[:5]}")
    conn.execute(f"PRAGMA user_version = {BUILD_VERSION}")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.commit()


def build_sample_db(path: Path) -> Path:
    """Build the Kestrel sample database at ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = _Generator().build()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp)
        try:
            _write(conn, rows)
        finally:
            conn.close()
        tmp.chmod(0o644)  # mkstemp creates 0600; the database is meant to be readable like any other file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def stored_build_version(path: Path) -> int | None:
    """The build version recorded in a sample database, or None if ``path`` is missing or not one of ours."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True)
        try:
            app = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(version) if app == APPLICATION_ID else None


_BUILD_LOCK = threading.Lock()


def default_database_path() -> Path:
    """Path of the cached sample database (``cache_dir()/sample.sqlite``), built first if absent or stale."""
    path = cache_dir() / SAMPLE_DB_NAME
    with _BUILD_LOCK:
        if stored_build_version(path) != BUILD_VERSION:
            build_sample_db(path)
    return path


def content_hash(path: Path) -> str:
    """SHA-256 over the schema and every row of every table, in a fixed order; independent of file layout."""
    digest = hashlib.sha256()
    conn = sqlite3.connect(readonly_uri(path), uri=True)
    try:
        digest.update(repr(conn.execute("PRAGMA user_version").fetchone()).encode())
        objects = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
        for kind, name, sql in objects:
            digest.update(repr((kind, name, sql)).encode())
            if kind != "table":
                continue
            quoted = '"' + name.replace('"', '""') + '"'
            width = len(conn.execute(f"SELECT * FROM {quoted} LIMIT 0").description)
            order = ", ".join(str(i) for i in range(1, width + 1))
            for row in conn.execute(f"SELECT * FROM {quoted} ORDER BY {order}"):
                digest.update(repr(row).encode())
    finally:
        conn.close()
    return digest.hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Kestrel Systems sample SQLite database.")
    parser.add_argument("--out", type=Path, help="where to write it (default: the tools cache)")
    args = parser.parse_args(argv)
    path = build_sample_db(args.out) if args.out else default_database_path()
    conn = sqlite3.connect(readonly_uri(path), uri=True)
    with contextlib.closing(conn):
        counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in TABLE_ORDER}
    print(f"{path}\ncontent sha256 {content_hash(path)}")
    for table, count in counts.items():
        print(f"  {table:<16} {count:>6} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
