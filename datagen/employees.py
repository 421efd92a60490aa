"""Employee records: the schema and a fast generator, deterministic per seed, keyed by employee id.

A value is one employee's whole current state as compact JSON (see `Employee` and
datagen/README.md), so the latest value of a key is that employee's state and a compacted topic or
a ksqlDB TABLE keyed by id means something. `EmployeeGenerator.records(n)` yields new hires;
`EmployeeGenerator.stream(n, updates, leavers)` mixes in raises, promotions, transfers and leavers
(a leaver is a tombstone: the value is None).

Faker is slow (about 6,000 records/s, most of it in its weighted `random_element`), so it is only
asked once per seed for pools of names; records combine the pools with a seeded `random.Random` and
are written with f-strings of pre-escaped JSON, which is what makes 100,000+ records/s possible.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import unicodedata
from array import array
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache

EMAIL_DOMAIN = "example.com"  # reserved for examples (RFC 2606): never a real person's address
FOUNDED = dt.date(2005, 1, 3)  # the CEO's hire date
LAST_HIRE = dt.date(2025, 12, 31)  # fixed, not "today", so a seed gives the same data every day
CEO_TITLE = "Chief Executive Officer"
EXECUTIVE = "Executive"

# Every department has the same six-step ladder: three individual-contributor levels, then
# manager, director and VP. Only levels 4 and up manage people.
TITLES: dict[str, tuple[str, ...]] = {
    "Engineering": (
        "Software Engineer I",
        "Software Engineer II",
        "Senior Software Engineer",
        "Engineering Manager",
        "Director of Engineering",
        "VP of Engineering",
    ),
    "Sales": (
        "Sales Development Representative",
        "Account Executive",
        "Senior Account Executive",
        "Sales Manager",
        "Director of Sales",
        "VP of Sales",
    ),
    "Support": (
        "Support Engineer I",
        "Support Engineer II",
        "Senior Support Engineer",
        "Support Manager",
        "Director of Support",
        "VP of Support",
    ),
    "Marketing": (
        "Marketing Coordinator",
        "Marketing Specialist",
        "Senior Marketing Specialist",
        "Marketing Manager",
        "Director of Marketing",
        "VP of Marketing",
    ),
    "Operations": (
        "Operations Associate",
        "Operations Analyst",
        "Senior Operations Analyst",
        "Operations Manager",
        "Director of Operations",
        "VP of Operations",
    ),
    "Finance": (
        "Financial Analyst I",
        "Financial Analyst II",
        "Senior Financial Analyst",
        "Finance Manager",
        "Director of Finance",
        "VP of Finance",
    ),
    "People": (
        "People Coordinator",
        "People Partner",
        "Senior People Partner",
        "People Manager",
        "Director of People",
        "VP of People",
    ),
}
DEPARTMENT_WEIGHTS = {
    "Engineering": 30,
    "Sales": 20,
    "Support": 15,
    "Marketing": 10,
    "Operations": 10,
    "Finance": 8,
    "People": 7,
}
DEPARTMENTS = list(TITLES)
IC_LEVELS = (1, 2, 3)
MANAGER_LEVEL = 4
VP_LEVEL = 6
CEO_LEVEL = 7
# How new hires spread over the ladder: a pyramid (percent, by level 1..6).
LEVEL_WEIGHTS = (25, 33, 25, 11, 5, 1)

# Annual base salary in USD by level, scaled per department.
_BASE_BANDS = {
    1: (50_000, 75_000),
    2: (70_000, 100_000),
    3: (95_000, 140_000),
    4: (120_000, 175_000),
    5: (160_000, 240_000),
    6: (220_000, 330_000),
}
_DEPARTMENT_PAY = {
    "Engineering": 1.15,
    "Sales": 1.0,
    "Support": 0.85,
    "Marketing": 0.95,
    "Operations": 0.9,
    "Finance": 1.05,
    "People": 0.9,
}
SALARY_STEP = 500

# Offices: (city, ISO 3166-1 alpha-2 country, Faker locales whose names staff it, weight).
OFFICES: tuple[tuple[str, str, str, int], ...] = (
    ("New York", "US", "en", 10),
    ("San Francisco", "US", "en", 8),
    ("Austin", "US", "en", 5),
    ("Chicago", "US", "en", 4),
    ("Toronto", "CA", "en", 4),
    ("London", "GB", "en", 8),
    ("Manchester", "GB", "en", 2),
    ("Dublin", "IE", "en", 3),
    ("Sydney", "AU", "en", 3),
    ("Berlin", "DE", "de_DE", 5),
    ("Munich", "DE", "de_DE", 3),
    ("Paris", "FR", "fr_FR", 4),
    ("Amsterdam", "NL", "nl_NL", 3),
    ("Madrid", "ES", "es_ES", 2),
    ("Barcelona", "ES", "es_ES", 2),
    ("Milan", "IT", "it_IT", 2),
    ("Stockholm", "SE", "sv_SE", 2),
    ("São Paulo", "BR", "pt_BR", 3),
    ("Bangalore", "IN", "en_IN", 5),
)
# A name pool: the Faker locales it is drawn from. "en" merges the English-speaking offices.
NAME_POOLS: dict[str, tuple[str, ...]] = {
    "en": ("en_US", "en_GB", "en_IE"),
    "de_DE": ("de_DE",),
    "fr_FR": ("fr_FR",),
    "nl_NL": ("nl_NL",),
    "es_ES": ("es_ES",),
    "it_IT": ("it_IT",),
    "sv_SE": ("sv_SE",),
    "pt_BR": ("pt_BR",),
    "en_IN": ("en_IN",),
}
_FAKER_DRAWS = 600  # Faker calls per locale and name kind when a seed's pools are built

EVENTS = ("hire", "raise", "promotion", "transfer")


def salary_band(department: str, level: int) -> tuple[int, int]:
    """The (lowest, highest) annual salary in USD of a department's level."""
    if department == EXECUTIVE and level == CEO_LEVEL:
        return 300_000, 500_000
    lo, hi = _BASE_BANDS[level]
    f = _DEPARTMENT_PAY[department]
    return int(round(lo * f, -3)), int(round(hi * f, -3))


def title_of(department: str, level: int) -> str:
    return CEO_TITLE if level == CEO_LEVEL else TITLES[department][level - 1]


def email_part(name: str) -> str:
    """A name as it appears in an email address: ASCII, lower case, no spaces or apostrophes."""
    folded = unicodedata.normalize("NFKD", name.translate(_NOT_DECOMPOSED))
    return "".join(ch for ch in folded.lower() if ch.isascii() and (ch.isalnum() or ch == "-"))


# Letters NFKD leaves whole (they are not an ASCII letter plus an accent).
_NOT_DECOMPOSED = str.maketrans(
    {
        "ß": "ss",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "đ": "d",
        "Đ": "D",
        "þ": "th",
    }
)


@dataclass
class Employee:
    """The schema of a value on the employees topic: one employee's whole current state.

    employee_id  key of the record: "E" and at least six digits, in order of hire
    first_name, last_name  drawn from the name pool of the office's country at hire
    email        first.last@example.com folded to ASCII; a number is appended only once every
                 name of a pool is taken, so emails are unique
    department   one of DEPARTMENTS, or "Executive" for the CEO
    title        the department's title for `level` (TITLES)
    level        1-3 individual contributors, 4 manager, 5 director, 6 VP, 7 CEO
    salary       annual base in USD, a multiple of 500 within salary_band(department, level)
    hire_date    ISO date from FOUNDED to LAST_HIRE, never before that of the manager at hire
    city, country  an office from OFFICES (country as ISO 3166-1 alpha-2)
    manager_id   an employee hired earlier with a higher level in the same department (or the
                 CEO); None only for the CEO. Managers never leave, so it always exists
    event        what produced this value: hire, raise, promotion or transfer
    """

    employee_id: str
    first_name: str
    last_name: str
    email: str
    department: str
    title: str
    level: int
    salary: int
    hire_date: str
    city: str
    country: str
    manager_id: str | None
    event: str

    @property
    def key(self) -> str:
        return self.employee_id

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, value: str | bytes) -> Employee:
        return cls(**json.loads(value))


@dataclass(frozen=True)
class _NamePool:
    """First and last names of one pool, as JSON strings and as email parts."""

    first_json: tuple[str, ...]
    first_email: tuple[str, ...]
    last_json: tuple[str, ...]
    last_email: tuple[str, ...]
    # The k-th name of the pool is pair (a*k + b) mod size: every pair once before any repeats.
    a: int
    b: int

    @property
    def size(self) -> int:
        return len(self.first_json) * len(self.last_json)


_SUFFIX = re.compile(r"\s[IVX]+$")  # Faker's "Koch II": a suffix, not a family name


def _j(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


@lru_cache(maxsize=4)
def _name_pools(seed: int) -> tuple[_NamePool, ...]:
    """Faker's names for each pool, drawn once per seed. Last names are made unique across pools
    (after folding to email form), so first.last is a different address in every pool."""
    from faker import Faker  # here, not at the top: 0.16 s off every task that makes no records

    rng = random.Random(f"linklab-employees/{seed}/names")
    taken_last: set[str] = set()
    pools = []
    for locales in NAME_POOLS.values():
        firsts: dict[str, str] = {}
        lasts: dict[str, str] = {}
        for locale in locales:
            fake = Faker(locale)
            fake.seed_instance(seed)
            for _ in range(_FAKER_DRAWS):
                name = fake.first_name()
                if len(email_part(name)) >= 2:
                    firsts.setdefault(email_part(name), name)
            for _ in range(_FAKER_DRAWS):
                name = fake.last_name()
                part = email_part(name)
                if len(part) >= 2 and part not in taken_last and not _SUFFIX.search(name):
                    lasts.setdefault(part, name)
        taken_last.update(lasts)
        first_items, last_items = list(firsts.items()), list(lasts.items())
        rng.shuffle(first_items)
        rng.shuffle(last_items)
        size = len(first_items) * len(last_items)
        a = rng.randrange(size // 3, size)
        while math.gcd(a, size) != 1:
            a += 1
        pools.append(
            _NamePool(
                first_json=tuple(_j(n) for _, n in first_items),
                first_email=tuple(p for p, _ in first_items),
                last_json=tuple(_j(n) for _, n in last_items),
                last_email=tuple(p for p, _ in last_items),
                a=a,
                b=rng.randrange(size),
            )
        )
    return tuple(pools)


def _weighted_table(weights: list[int], slots: int = 1000) -> tuple[int, ...]:
    """Indices repeated in proportion to their weights: a uniform draw picks by weight."""
    total = sum(weights)
    table: list[int] = []
    for i, w in enumerate(weights):
        table += [i] * round(w * slots / total)
    return tuple(table)


_DEPT_TABLE = _weighted_table([DEPARTMENT_WEIGHTS[d] for d in DEPARTMENTS])
_LEVEL_TABLE = tuple(lvl + 1 for lvl in _weighted_table(list(LEVEL_WEIGHTS)))
_OFFICE_TABLE = _weighted_table([o[3] for o in OFFICES])
_OFFICE_POOL = tuple(list(NAME_POOLS).index(o[2]) for o in OFFICES)
_OFFICE_JSON = tuple(f'"city":{_j(city)},"country":"{country}"' for city, country, _, _ in OFFICES)
_CEO_DEPT = len(DEPARTMENTS)  # department index of "Executive"
# (department index, level) -> the JSON of department, title and level, and the salary band.
_ROLE_JSON: dict[tuple[int, int], str] = {}
_BAND: dict[tuple[int, int], tuple[int, int]] = {}
for _d, _dept in enumerate([*DEPARTMENTS, EXECUTIVE]):
    for _lvl in [CEO_LEVEL] if _dept == EXECUTIVE else range(1, VP_LEVEL + 1):
        _ROLE_JSON[_d, _lvl] = (
            f'"department":"{_dept}","title":{_j(title_of(_dept, _lvl))},"level":{_lvl}'
        )
        _BAND[_d, _lvl] = salary_band(_dept, _lvl)
_FIRST_DAY, _LAST_DAY = FOUNDED.toordinal(), LAST_HIRE.toordinal()
_ISO_DAY = tuple(dt.date.fromordinal(d).isoformat() for d in range(_FIRST_DAY, _LAST_DAY + 1))


class EmployeeGenerator:
    """One company's employees, grown record by record; the same seed gives the same records.

    New hires get ids from `next_id` on (E000001, E000002, …; set `next_id` before the first
    record to start elsewhere). The first hire is the CEO. Hires draw from their own random
    stream, so the hires of `stream()` are exactly the records of `records()` for the same seed.
    """

    def __init__(self, seed: int = 42, next_id: int = 1):
        self.seed = seed
        self.next_id = next_id
        self._hire_rng = random.Random(f"linklab-employees/{seed}/hires")
        self._change_rng = random.Random(f"linklab-employees/{seed}/changes")
        self._pools = _name_pools(seed)
        self._pool_hires = [0] * len(self._pools)
        # One row per employee ever hired, as compact columns (a million employees ~ 60 MB).
        self._num = array("q")
        self._pool = array("b")
        self._name = array("q")  # k: the pool's k-th name
        self._dept = array("b")
        self._level = array("b")
        self._salary = array("q")
        self._day = array("l")
        self._office = array("b")
        self._manager = array("q")  # row of the manager; -1 for the CEO
        self._active: list[int] = []  # rows of current employees, in no order
        self._where = array("q")  # row -> position in _active, -1 once left
        # (department, level) -> rows of hired managers: the candidates a new hire reports to.
        self._managers: dict[tuple[int, int], list[int]] = {
            (d, lvl): [] for d in range(len(DEPARTMENTS)) for lvl in (4, 5, 6)
        }
        # [department][level] -> the manager lists a new hire's manager is looked for in, in
        # order: one level up first (levels 1-3 report to managers), up to the VP.
        self._chains = [
            [
                tuple(
                    self._managers[d, up] for up in range(max(lvl + 1, MANAGER_LEVEL), VP_LEVEL + 1)
                )
                for lvl in range(VP_LEVEL + 1)
            ]
            for d in range(len(DEPARTMENTS))
        ]

    def __len__(self) -> int:
        """How many employees work here now."""
        return len(self._active)

    # -- records ---------------------------------------------------------------------------
    def records(self, count: int) -> Iterator[tuple[str, str]]:
        """(key, JSON value) of `count` new hires."""
        if count < 0:
            raise ValueError(f"count must be 0 or more, got {count}")
        hire = self._hire
        for _ in range(count):
            yield hire()

    def stream(
        self, count: int, updates: float = 0.2, leavers: float = 0.0
    ) -> Iterator[tuple[str, str | None]]:
        """(key, value) of `count` records: hires, and about `updates` of them changes to a
        current employee (raise, promotion, transfer) and `leavers` of them tombstones (None)."""
        if count < 0:
            raise ValueError(f"count must be 0 or more, got {count}")
        if not (0 <= updates < 1 and 0 <= leavers < 1 and updates + leavers < 1):
            raise ValueError(
                f"updates ({updates}) and leavers ({leavers}) must be fractions "
                "from 0 to 1 that leave room for hires"
            )
        hire, change, leave = self._hire, self._change, self._leave
        draw = self._change_rng.random
        active = self._active
        for _ in range(count):
            u = draw()
            if u >= updates + leavers or len(active) < 2:
                yield hire()
            elif u < leavers:
                yield leave() or hire()
            else:
                yield change()

    # -- hires -----------------------------------------------------------------------------
    def _hire(self) -> tuple[str, str]:
        rand = self._hire_rng.random
        row = len(self._num)
        if row == 0:
            dept, level, office = _CEO_DEPT, CEO_LEVEL, 0
            manager, day = -1, _FIRST_DAY
        else:
            dept = _DEPT_TABLE[int(rand() * len(_DEPT_TABLE))]
            level = _LEVEL_TABLE[int(rand() * len(_LEVEL_TABLE))]
            if level == VP_LEVEL and self._managers[dept, VP_LEVEL]:
                level = VP_LEVEL - 1  # one VP per department
            office = _OFFICE_TABLE[int(rand() * len(_OFFICE_TABLE))]
            manager = self._pick_manager(dept, level, rand)
            first = self._day[manager]
            # Cubed, so hires lean toward their manager's start and the years fill evenly
            # rather than piling up at the end of the chain of managers.
            x = rand()
            day = first + int(x * x * x * (_LAST_DAY - first + 1))
            if level >= MANAGER_LEVEL:
                self._managers[dept, level].append(row)
        lo, hi = _BAND[dept, level]
        salary = lo + SALARY_STEP * int(rand() * ((hi - lo) // SALARY_STEP + 1))
        pool = _OFFICE_POOL[office]
        k = self._pool_hires[pool]
        self._pool_hires[pool] = k + 1
        num = self.next_id
        self.next_id = num + 1
        self._num.append(num)
        self._pool.append(pool)
        self._name.append(k)
        self._dept.append(dept)
        self._level.append(level)
        self._salary.append(salary)
        self._day.append(day)
        self._office.append(office)
        self._manager.append(manager)
        self._where.append(len(self._active))
        self._active.append(row)
        boss = self._num[manager] if manager >= 0 else -1
        return _value(num, self._pools[pool], k, dept, level, salary, day, office, boss, "hire")

    def _pick_manager(self, dept: int, level: int, rand) -> int:
        """A hired manager of `dept` one level up or, when there is none, further up; the CEO
        at the top."""
        for rows in self._chains[dept][level]:
            if rows:
                return rows[int(rand() * len(rows))]
        return 0

    # -- changes ---------------------------------------------------------------------------
    def _change(self) -> tuple[str, str]:
        """A raise, a promotion or a transfer of a current employee."""
        r = self._change_rng
        u = r.random()
        row = self._active[int(r.random() * len(self._active))]
        level, dept = self._level[row], self._dept[row]
        lo, hi = _BAND[dept, level]
        salary = self._salary[row]
        is_ic = level <= IC_LEVELS[-1]
        if u < 0.5 and salary < hi or not is_ic:
            # Managers only get raises: their moves would leave reports behind.
            self._salary[row] = min(hi, _round_up(salary * (1.02 + 0.08 * r.random())))
            return self._json(row, "raise")
        if u < 0.7 and level < IC_LEVELS[-1]:
            level += 1
            lo, hi = _BAND[dept, level]
            self._level[row] = level
            self._salary[row] = max(lo, min(hi, _round_up(salary * 1.1)))
            return self._json(row, "promotion")
        office = self._office[row]
        shift = 1 + int(r.random() * (len(OFFICES) - 1))
        self._office[row] = (office + shift) % len(OFFICES)
        if r.random() < 0.4:
            dept = (dept + 1 + int(r.random() * (len(DEPARTMENTS) - 1))) % len(DEPARTMENTS)
            lo, hi = _BAND[dept, level]
            self._dept[row] = dept
            self._salary[row] = max(lo, min(hi, salary))
            self._manager[row] = self._pick_manager(dept, level, r.random)
        return self._json(row, "transfer")

    def _leave(self) -> tuple[str, None] | None:
        """A tombstone for an individual contributor who leaves; None if none was found.

        Only individual contributors leave, and they manage nobody, so no manager_id ever
        points at a leaver."""
        r, active, where = self._change_rng, self._active, self._where
        for _ in range(8):
            pos = int(r.random() * len(active))
            row = active[pos]
            if self._level[row] <= IC_LEVELS[-1]:
                last = active.pop()
                if last != row:
                    active[pos] = last
                    where[last] = pos
                where[row] = -1
                return f"E{self._num[row]:06d}", None
        return None

    # -- the JSON value --------------------------------------------------------------------
    def _json(self, row: int, event: str) -> tuple[str, str]:
        manager = self._manager[row]
        return _value(
            self._num[row],
            self._pools[self._pool[row]],
            self._name[row],
            self._dept[row],
            self._level[row],
            self._salary[row],
            self._day[row],
            self._office[row],
            self._num[manager] if manager >= 0 else -1,
            event,
        )


def _value(
    num: int,
    pool: _NamePool,
    k: int,
    dept: int,
    level: int,
    salary: int,
    day: int,
    office: int,
    manager: int,
    event: str,
) -> tuple[str, str]:
    """The key and JSON value of an employee: f-strings of pre-escaped parts, the fast way."""
    size = pool.size
    f, last = divmod((pool.a * k + pool.b) % size, len(pool.last_json))
    again = k // size
    key = f"E{num:06d}"
    boss = f'"E{manager:06d}"' if manager >= 0 else "null"
    return key, (
        f'{{"employee_id":"{key}","first_name":{pool.first_json[f]},'
        f'"last_name":{pool.last_json[last]},"email":"{pool.first_email[f]}.'
        f'{pool.last_email[last]}{again + 1 if again else ""}@{EMAIL_DOMAIN}",'
        f'{_ROLE_JSON[dept, level]},"salary":{salary},"hire_date":"{_ISO_DAY[day - _FIRST_DAY]}",'
        f'{_OFFICE_JSON[office]},"manager_id":{boss},"event":"{event}"}}'
    )


def _round_up(salary: float) -> int:
    return int(math.ceil(salary / SALARY_STEP)) * SALARY_STEP
