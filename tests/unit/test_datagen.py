"""The Employee generator: schema, consistency rules over many records, determinism by seed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import pytest

from datagen import Employee, EmployeeGenerator
from datagen.employees import (
    CEO_LEVEL,
    EMAIL_DOMAIN,
    FOUNDED,
    LAST_HIRE,
    OFFICES,
    TITLES,
    email_part,
    salary_band,
    title_of,
)

FIELDS = [f.name for f in dataclasses.fields(Employee)]
OFFICE_COUNTRY = {city: country for city, country, _, _ in OFFICES}


def replay(records):
    """Check every record against the state before it; return the final state and event counts."""
    state: dict[str, Employee] = {}
    gone: set[str] = set()
    events = {"hire": 0, "raise": 0, "promotion": 0, "transfer": 0, "leave": 0}
    emails: set[str] = set()
    for key, value in records:
        if value is None:
            assert key in state, f"tombstone for {key}, who does not work here"
            assert state[key].level <= 3, "only individual contributors leave"
            del state[key]
            gone.add(key)
            events["leave"] += 1
            continue
        data = json.loads(value)
        assert list(data) == FIELDS, "fields and their order are the schema"
        e = Employee(**data)
        assert e.key == key and re.fullmatch(r"E\d{6,}", key)
        assert key not in gone, f"{key} changed after leaving"
        check_employee(e)
        if e.manager_id is not None:
            boss = state.get(e.manager_id)
            assert boss is not None, f"{key}'s manager {e.manager_id} does not work here"
            assert boss.level > e.level
            assert boss.department in (e.department, "Executive")
        else:
            assert e.level == CEO_LEVEL
        before = state.get(key)
        if e.event == "hire":
            assert before is None, f"{key} hired twice"
            assert e.email not in emails, f"email {e.email} given twice"
            emails.add(e.email)
            if e.manager_id:
                assert e.hire_date >= state[e.manager_id].hire_date
        else:
            assert before is not None, f"{e.event} of {key}, who does not work here"
            same = ("first_name", "last_name", "email", "hire_date")
            assert all(getattr(e, f) == getattr(before, f) for f in same)
            if e.event == "raise":
                assert e.salary >= before.salary
                assert (e.level, e.department, e.city) == (
                    before.level,
                    before.department,
                    before.city,
                )
            elif e.event == "promotion":
                assert e.level == before.level + 1 and e.title != before.title
                assert e.department == before.department
            elif e.event == "transfer":
                assert e.city != before.city
                assert e.level == before.level
        state[key] = e
        events[e.event] += 1
    return state, events


def check_employee(e: Employee) -> None:
    assert e.title == title_of(e.department, e.level)
    lo, hi = salary_band(e.department, e.level)
    assert lo <= e.salary <= hi and e.salary % 500 == 0, f"{e.salary} outside {lo}..{hi}"
    assert OFFICE_COUNTRY[e.city] == e.country
    assert FOUNDED.isoformat() <= e.hire_date <= LAST_HIRE.isoformat()
    dt.date.fromisoformat(e.hire_date)
    local, domain = e.email.split("@")
    assert domain == EMAIL_DOMAIN
    assert re.fullmatch(
        re.escape(email_part(e.first_name)) + r"\." + re.escape(email_part(e.last_name)) + r"\d*",
        local,
    ), f"{e.email} does not fit {e.first_name} {e.last_name}"
    assert local.isascii() and local == local.lower()


@pytest.mark.parametrize("seed", [1, 42])
def test_mixed_stream_keeps_every_rule(seed):
    records = list(EmployeeGenerator(seed).stream(30_000, updates=0.3, leavers=0.05))
    state, events = replay(records)
    assert all(events.values()), f"every kind of record occurs: {events}"
    assert 0.25 < (events["raise"] + events["promotion"] + events["transfer"]) / 30_000 < 0.35
    assert 0.03 < events["leave"] / 30_000 < 0.07
    # No current employee's manager has left.
    assert all(e.manager_id is None or e.manager_id in state for e in state.values())


def test_new_hires_keep_every_rule_and_only_hire():
    records = list(EmployeeGenerator(7).records(20_000))
    state, events = replay(records)
    assert events["hire"] == len(state) == 20_000
    assert len({e.email for e in state.values()}) == 20_000


def test_the_company_looks_like_one():
    people = [Employee.from_json(v) for _, v in EmployeeGenerator(3).records(20_000)]
    [ceo] = [e for e in people if e.level == CEO_LEVEL]
    assert ceo.employee_id == "E000001" and ceo.manager_id is None
    vps = [e.department for e in people if e.level == 6]
    assert len(vps) == len(set(vps)) <= len(TITLES), "one VP per department at most"
    assert {e.department for e in people} == {*TITLES, "Executive"}
    assert {e.city for e in people} == set(OFFICE_COUNTRY)
    ics = sum(e.level <= 3 for e in people)
    assert 0.7 < ics / len(people) < 0.95, "a pyramid: most people manage nobody"
    years = {e.hire_date[:4] for e in people}
    assert len(years) > 15, "hires spread over the company's history"


def test_same_seed_same_records_other_seed_others():
    a = list(EmployeeGenerator(11).stream(5000, updates=0.3, leavers=0.05))
    b = list(EmployeeGenerator(11).stream(5000, updates=0.3, leavers=0.05))
    c = list(EmployeeGenerator(12).stream(5000, updates=0.3, leavers=0.05))
    assert a == b
    assert a != c
    assert [k for k, _ in a] != [k for k, _ in c] or [v for _, v in a] != [v for _, v in c]


def test_hires_of_the_stream_are_the_records_of_the_seed():
    hires = [
        (k, v)
        for k, v in EmployeeGenerator(5).stream(8000, updates=0.4, leavers=0.1)
        if v is not None and json.loads(v)["event"] == "hire"
    ]
    assert hires == list(EmployeeGenerator(5).records(len(hires)))


def test_next_id_sets_where_ids_start():
    gen = EmployeeGenerator(seed=99)
    gen.next_id = 900_000
    keys = [k for k, _ in gen.records(200)]
    assert keys[0] == "E900000" and keys[-1] == "E900199"
    assert gen.next_id == 900_200
    assert [k for k, _ in EmployeeGenerator(seed=99, next_id=5).records(2)] == [
        "E000005",
        "E000006",
    ]


def test_values_are_what_json_dumps_would_write():
    for _, value in EmployeeGenerator(8).stream(3000, updates=0.3):
        assert Employee.from_json(value).to_json() == value


def test_records_continue_where_they_left_off():
    gen = EmployeeGenerator(4)
    first, then = list(gen.records(100)), list(gen.records(100))
    assert first + then == list(EmployeeGenerator(4).records(200))


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("Lena", "lena"),
        ("Krüger", "kruger"),
        ("Łukasz", "lukasz"),
        ("O'Neill", "oneill"),
        ("van der Berg", "vanderberg"),
        ("García-López", "garcia-lopez"),
        ("Strauß", "strauss"),
        ("D’Alia", "dalia"),
        ("Ó Corra", "ocorra"),
    ],
)
def test_email_part_folds_names_to_ascii(name, part):
    assert email_part(name) == part


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": -1},
        {"count": 5, "updates": 1.0},
        {"count": 5, "leavers": -0.1},
        {"count": 5, "updates": 0.6, "leavers": 0.5},
    ],
)
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        list(EmployeeGenerator(1).stream(**kwargs))
    if "updates" not in kwargs and "leavers" not in kwargs:
        with pytest.raises(ValueError):
            list(EmployeeGenerator(1).records(kwargs["count"]))
