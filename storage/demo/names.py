"""Names for the demo: people (English and Russian, with Latin e-mail spellings) and made-up companies."""

from __future__ import annotations

import numpy as np

__all__ = ["PersonNames", "company_names"]

_EN_FIRST = [
    "Emma",
    "James",
    "Olivia",
    "Liam",
    "Sophia",
    "Noah",
    "Ava",
    "Lucas",
    "Mia",
    "Ethan",
    "Grace",
    "Henry",
    "Chloe",
    "Jack",
    "Lily",
    "Oscar",
    "Ruby",
    "Leo",
    "Zoe",
    "Adam",
    "Hannah",
    "Daniel",
    "Ella",
    "Samuel",
    "Alice",
    "Thomas",
    "Nora",
    "David",
    "Clara",
    "Ryan",
    "Megan",
    "Paul",
    "Laura",
    "Mark",
    "Julia",
    "Peter",
    "Sarah",
    "Owen",
    "Anna",
    "Lukas",
    "Jonas",
    "Lena",
    "Felix",
    "Marie",
]
_EN_LAST = [
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Miller",
    "Wilson",
    "Moore",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Allen",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Carter",
    "Mitchell",
    "Turner",
    "Parker",
    "Collins",
    "Edwards",
    "Stewart",
    "Morris",
    "Murphy",
    "Cook",
    "Rogers",
    "Bell",
    "Fischer",
    "Weber",
    "Becker",
    "Hoffmann",
    "Schulz",
    "Wagner",
    "Keller",
    "Richter",
]
# (Cyrillic first name, Latin spelling, is female)
_RU_FIRST = (
    ("Анна", "anna", True),
    ("Мария", "maria", True),
    ("Елена", "elena", True),
    ("Ольга", "olga", True),
    ("Татьяна", "tatiana", True),
    ("Наталья", "natalia", True),
    ("Ирина", "irina", True),
    ("Екатерина", "ekaterina", True),
    ("Дарья", "daria", True),
    ("Ксения", "ksenia", True),
    ("Алексей", "alexey", False),
    ("Дмитрий", "dmitry", False),
    ("Сергей", "sergey", False),
    ("Андрей", "andrey", False),
    ("Иван", "ivan", False),
    ("Михаил", "mikhail", False),
    ("Павел", "pavel", False),
    ("Никита", "nikita", False),
    ("Артём", "artem", False),
    ("Максим", "maxim", False),
)
# (male form, female form, Latin spelling of the male form)
_RU_LAST = (
    ("Иванов", "Иванова", "ivanov"),
    ("Смирнов", "Смирнова", "smirnov"),
    ("Кузнецов", "Кузнецова", "kuznetsov"),
    ("Попов", "Попова", "popov"),
    ("Соколов", "Соколова", "sokolov"),
    ("Лебедев", "Лебедева", "lebedev"),
    ("Козлов", "Козлова", "kozlov"),
    ("Новиков", "Новикова", "novikov"),
    ("Морозов", "Морозова", "morozov"),
    ("Волков", "Волкова", "volkov"),
    ("Орлов", "Орлова", "orlov"),
    ("Зайцев", "Зайцева", "zaitsev"),
    ("Павлов", "Павлова", "pavlov"),
    ("Фёдоров", "Фёдорова", "fedorov"),
    ("Белов", "Белова", "belov"),
)


class PersonNames:
    """Hands out unique names, English or Russian, in a seeded order."""

    def __init__(self, rng: np.random.Generator) -> None:
        en = [(f, last) for f in _EN_FIRST for last in _EN_LAST]
        ru = [(f, last) for f in range(len(_RU_FIRST)) for last in range(len(_RU_LAST))]
        self._en = [en[i] for i in rng.permutation(len(en))]
        self._ru = [ru[i] for i in rng.permutation(len(ru))]

    def take(self, locale: str) -> tuple[str, str]:
        """A (display name, email) pair."""
        if locale == "ru":
            f, last = self._ru.pop()
            first, latin, female = _RU_FIRST[f]
            male, fem, latin_last = _RU_LAST[last]
            surname, latin_surname = (fem, latin_last + "a") if female else (male, latin_last)
            return f"{first} {surname}", f"{latin}.{latin_surname}@demo.example"
        first, surname = self._en.pop()
        return f"{first} {surname}", f"{first.lower()}.{surname.lower()}@demo.example"


_COMPANY_FIRST = [
    "North",
    "Blue",
    "Silver",
    "Bright",
    "Green",
    "Summit",
    "Harbor",
    "Pioneer",
    "Atlas",
    "Vertex",
    "Nova",
    "Cedar",
    "Granite",
    "Swift",
    "Polar",
    "Crescent",
    "Golden",
    "Iron",
    "Maple",
    "River",
    "Stone",
    "Sun",
    "Oak",
    "Falcon",
    "Urban",
    "Prime",
    "Crystal",
    "Eastern",
    "Western",
    "Alpine",
    "Coastal",
    "Meridian",
    "Orion",
    "Quantum",
    "Redwood",
    "Sterling",
    "Horizon",
    "Beacon",
    "Lumen",
    "Apex",
]
_COMPANY_CORE = [
    "Logistics",
    "Foods",
    "Analytics",
    "Health",
    "Retail",
    "Motors",
    "Systems",
    "Labs",
    "Energy",
    "Textiles",
    "Pharma",
    "Media",
    "Software",
    "Freight",
    "Furniture",
    "Dental",
    "Finance",
    "Insurance",
    "Robotics",
    "Brewing",
    "Bakery",
    "Clinics",
    "Hotels",
    "Learning",
    "Metals",
    "Packaging",
    "Farms",
    "Networks",
    "Optics",
    "Printing",
]
_COMPANY_SUFFIX = ("Inc", "LLC", "GmbH", "Ltd", "Group", "AG", "& Co", "Partners")


def company_names(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` distinct made-up company names (at most the number of combinations)."""
    total = len(_COMPANY_FIRST) * len(_COMPANY_CORE) * len(_COMPANY_SUFFIX)
    picks = rng.choice(total, min(count, total), replace=False)
    first, rest = np.divmod(picks, len(_COMPANY_CORE) * len(_COMPANY_SUFFIX))
    core, suffix = np.divmod(rest, len(_COMPANY_SUFFIX))
    return np.array(
        [
            f"{_COMPANY_FIRST[a]} {_COMPANY_CORE[b]} {_COMPANY_SUFFIX[c]}"
            for a, b, c in zip(first, core, suffix, strict=True)
        ],
        dtype=object,
    )
