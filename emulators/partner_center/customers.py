"""Which customers exist and are the partner's: configured sets on top of readable id conventions.

By default every GUID is a known customer of the partner. A first group of ``00000404`` makes an
unknown customer, ``00000403`` a customer of another partner; sets configured at run time add more.
The answer for an unknown customer is configurable, because which one this endpoint gives is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from emulators.partner_center.agreements import parse_guid
from emulators.partner_center.bodies import Reply, classic_fault
from emulators.partner_center.conventions import FOREIGN_CUSTOMER_PREFIX, UNKNOWN_CUSTOMER_PREFIX


class UnknownCustomerResponse(StrEnum):
    """What Partner Center answers for a customer tenant it does not know."""

    NOT_FOUND_1000 = "404/1000"
    TENANT_NOT_FOUND_60003 = "404/60003"
    INVALID_CUSTOMER_900118 = "400/900118"

    def reply(self) -> Reply:
        if self is UnknownCustomerResponse.NOT_FOUND_1000:
            return classic_fault(404, 1000, "Not found")
        if self is UnknownCustomerResponse.TENANT_NOT_FOUND_60003:
            return classic_fault(404, 60003, "Tenant not found")
        return invalid_customer_id()


def invalid_customer_id() -> Reply:
    return classic_fault(400, 900118, "Invalid Customer Id")


@dataclass(slots=True)
class CustomerDirectory:
    """Customer sets; not locked itself (``SimulatorState`` holds the lock)."""

    unknown: set[str] = field(default_factory=set)
    foreign: set[str] = field(default_factory=set)
    direct_signed: set[str] = field(default_factory=set)

    def check(self, customer_id: str, unknown_response: UnknownCustomerResponse) -> str | Reply:
        """The canonical customer id if the partner may act for it, else Partner Center's refusal."""
        canonical = parse_guid(customer_id)
        if canonical is None:
            return invalid_customer_id()
        prefix = canonical.split("-", 1)[0]
        if canonical in self.unknown or prefix == UNKNOWN_CUSTOMER_PREFIX:
            return unknown_response.reply()
        if canonical in self.foreign or prefix == FOREIGN_CUSTOMER_PREFIX:
            return classic_fault(
                403,
                20002,
                "The partner does not have a commerce relationship with the customer (no commerce relationship).",
            )
        return canonical
