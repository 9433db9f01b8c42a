"""GET /v1/agreements: agreement templates per type, and the default-type quirk."""

from __future__ import annotations

import httpx
import pytest

from emulators.partner_center import (
    CLOUD_AGREEMENT,
    CLOUD_AGREEMENT_TEMPLATE_ID,
    MCA,
    MCA_TEMPLATE_ID,
    SimulatorServer,
    Template,
)

pytestmark = pytest.mark.integration


def test_mca_template(api: httpx.Client) -> None:
    """agreementType=MicrosoftCustomerAgreement lists the documented MCA template in a Collection."""
    response = api.get("/v1/agreements", params={"agreementType": MCA})
    assert response.status_code == 200
    assert response.json() == {
        "totalCount": 1,
        "items": [
            {
                "templateId": MCA_TEMPLATE_ID,
                "agreementType": MCA,
                "agreementLink": "https://aka.ms/customeragreement",
                "versionRank": 0,
            }
        ],
        "attributes": {"objectType": "Collection"},
    }


def test_cloud_agreement_template(api: httpx.Client) -> None:
    """agreementType=MicrosoftCloudAgreement lists the Cloud Agreement template."""
    items = api.get("/v1/agreements", params={"agreementType": CLOUD_AGREEMENT}).json()["items"]
    assert [i["templateId"] for i in items] == [CLOUD_AGREEMENT_TEMPLATE_ID]


def test_star_lists_every_type_including_an_unknown_one(api: httpx.Client) -> None:
    """agreementType=* lists MCA, Cloud Agreement and a type no client knows."""
    body = api.get("/v1/agreements", params={"agreementType": "*"}).json()
    types = {i["agreementType"] for i in body["items"]}
    assert {MCA, CLOUD_AGREEMENT} < types
    assert len(types) == 3
    assert body["totalCount"] == 3


def test_no_agreement_type_means_cloud_agreement_only(api: httpx.Client) -> None:
    """Without agreementType the answer is the Cloud Agreement only (documented quirk)."""
    items = api.get("/v1/agreements").json()["items"]
    assert [i["agreementType"] for i in items] == [CLOUD_AGREEMENT]


def test_new_template_is_listed_and_retired_one_is_not(sim: SimulatorServer, api: httpx.Client) -> None:
    """A template added at run time is listed; a retired template is not."""
    new_id = "217a77b0-9360-443b-8795-c6dedc750cf9"
    sim.state.add_template(Template(new_id, MCA, "https://aka.ms/customeragreement", version_rank=1))
    sim.state.retire_template(MCA_TEMPLATE_ID)
    items = api.get("/v1/agreements", params={"agreementType": MCA}).json()["items"]
    assert [(i["templateId"], i["versionRank"]) for i in items] == [(new_id, 1)]
