"""Enums whose values are not identifiers get member names generated clients can keep."""

import enum
from zoneinfo import available_timezones

from pydantic import BaseModel

from kit.api.schemas import spelled_members, spelled_out
from kit.testing.contract import contract_problems

ZONES = ["Etc/GMT+1", "Etc/GMT-1", "GMT+0", "GMT-0", "GMT0", "America/Port-au-Prince"]


def test_every_time_zone_gets_its_own_member_name() -> None:
    zones = sorted(available_timezones())
    assert len(set(spelled_members(zones))) == len(zones)
    assert list(spelled_members(ZONES)) == [
        "ETC_GMT_PLUS_1",
        "ETC_GMT_MINUS_1",
        "GMT_PLUS_0",
        "GMT_MINUS_0",
        "GMT0",
        "AMERICA_PORT_AU_PRINCE",
    ]


def test_a_spelled_out_enum_names_its_values_in_the_schema() -> None:
    zone = enum.StrEnum("Zone", spelled_members(ZONES))  # type: ignore[misc]
    spelled_out(zone)

    class Venue(BaseModel):
        timezone: zone

    definition = Venue.model_json_schema()["$defs"]["Zone"]
    assert definition["enum"] == ZONES
    assert definition["x-enum-varnames"][0] == "ETC_GMT_PLUS_1"
    document = {"components": {"schemas": {"Zone": definition}}}
    assert contract_problems(document) == []
    del definition["x-enum-varnames"]
    assert contract_problems(document) == [
        "schema Zone: values collide as member names; kit.api.schemas.spelled_out"
    ]
