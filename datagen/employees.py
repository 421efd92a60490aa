"""Employee records: the schema and a deterministic Faker generator keyed by employee id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from faker import Faker

DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Finance", "Operations", "Support"]


@dataclass
class Employee:
    employee_id: str
    first_name: str
    last_name: str
    email: str
    department: str
    title: str
    salary: int
    hire_date: str
    city: str
    country: str
    manager_id: str | None

    @property
    def key(self) -> str:
        return self.employee_id

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


class EmployeeGenerator:
    """New hires with ids E000001, E000002, …; the same seed gives the same employees."""

    def __init__(self, seed: int = 42):
        self.fake = Faker()
        self.fake.seed_instance(seed)
        self.next_id = 1

    def employee(self) -> Employee:
        f = self.fake
        n = self.next_id
        self.next_id += 1
        first, last = f.first_name(), f.last_name()
        return Employee(
            employee_id=f"E{n:06d}",
            first_name=first,
            last_name=last,
            email=f"{first}.{last}@example.com".lower(),
            department=f.random_element(DEPARTMENTS),
            title=f.job(),
            salary=f.random_int(40_000, 200_000, step=500),
            hire_date=f.date_between("-15y", "today").isoformat(),
            city=f.city(),
            country=f.current_country_code(),
            manager_id=f"E{f.random_int(1, n - 1):06d}" if n > 1 else None,
        )

    def records(self, count: int) -> Iterator[tuple[str, str]]:
        """(key, JSON value) pairs for `count` new employees."""
        for _ in range(count):
            e = self.employee()
            yield e.key, e.to_json()
