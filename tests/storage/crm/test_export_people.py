"""How a CRM's export names an owner — a name, an email, an id — turned into kpibot's user ids."""

from __future__ import annotations

from sqlalchemy import insert

from storage.crm.exports import StoredPeople
from storage.schema import User


def test_an_owner_is_found_by_name_email_or_id_and_a_shared_name_places_no_one_but_says_whose_it_is(engine):
    with engine.begin() as conn:
        conn.execute(insert(User), [
            dict(user_id="u-1", name="Рита Иванова", email="Rita@Example.com", role="rep"),
            dict(user_id="u-2", name="Anna Lee", email="anna@example.com", role="rep"),
            dict(user_id="u-3", name="Anna  Lee", email="anna.lee@example.com", role="rep"),
        ])  # fmt: skip
    people = StoredPeople.load(engine)
    assert people.find("  рита   ИВАНОВА ") == "u-1"  # case and spacing aside, Cyrillic too
    assert people.find("rita@example.com") == "u-1"
    assert people.find("U-2") == "u-2"
    assert people.find("anna lee") is None  # two Anna Lees: the export cannot say which
    assert people.find("anna.lee@example.com") == "u-3"
    assert people.find("Nobody Known") is None
    assert people.shared("Owner", " anna LEE ") == (
        "Owner='anna LEE' is the name of u-2 and u-3; give the owner's email or id"
    )
    assert people.shared("Owner", "Nobody Known") is None
    assert people.shared("Owner", "anna@example.com") is None  # an email places its one user
