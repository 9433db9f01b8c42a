"""Agreement metadata: the templates Partner Center offers per agreement type, and the seam to read them.

``GET /v1/agreements?agreementType=…`` answers a list of templates. The attestation POST needs the
templateId of the *current* one. The rule for choosing it (Partner Center does not document one):

    the template with the highest ``versionRank`` is current; equal ranks are broken by the
    lexically smallest templateId, so every instance picks the same one.

The use case reads metadata through ``MetadataSource``; the function app implements it with a
read-through cache (memory → Blob or file → Partner Center), tests with a fixed value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

MCA = "MicrosoftCustomerAgreement"
MCLOUDA = "MicrosoftCloudAgreement"
KNOWN_AGREEMENT_TYPES: frozenset[str] = frozenset({MCA, MCLOUDA})


@dataclass(frozen=True, slots=True)
class AgreementTemplate:
    """One item of ``GET /v1/agreements``."""

    template_id: str
    agreement_type: str
    agreement_link: str
    version_rank: int

    def to_json(self) -> dict[str, Any]:
        return {
            "templateId": self.template_id,
            "agreementType": self.agreement_type,
            "agreementLink": self.agreement_link,
            "versionRank": self.version_rank,
        }

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> AgreementTemplate:
        return cls(
            template_id=str(item["templateId"]),
            agreement_type=str(item["agreementType"]),
            agreement_link=str(item.get("agreementLink") or ""),
            version_rank=int(item.get("versionRank") or 0),
        )


class NoTemplateError(LookupError):
    """Partner Center lists no template for an agreement type."""


@dataclass(frozen=True, slots=True)
class AgreementMetadata:
    """The templates of one agreement type, as fetched at ``fetched_at`` (UTC)."""

    agreement_type: str
    templates: tuple[AgreementTemplate, ...]
    fetched_at: datetime

    @property
    def current(self) -> AgreementTemplate:
        """The template new attestations use (see the module docstring for the rule)."""
        if not self.templates:
            raise NoTemplateError(f"Partner Center lists no template for {self.agreement_type}")
        return min(self.templates, key=lambda t: (-t.version_rank, t.template_id))

    def knows(self, template_id: str) -> bool:
        wanted = template_id.lower()
        return any(t.template_id.lower() == wanted for t in self.templates)

    def to_json(self) -> dict[str, Any]:
        return {
            "agreementType": self.agreement_type,
            "fetchedAt": self.fetched_at.isoformat(),
            "templates": [t.to_json() for t in self.templates],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> AgreementMetadata:
        return cls(
            agreement_type=str(doc["agreementType"]),
            templates=tuple(AgreementTemplate.from_json(t) for t in doc["templates"]),
            fetched_at=datetime.fromisoformat(str(doc["fetchedAt"])),
        )


class MetadataSource(Protocol):
    """Where the use case gets agreement metadata from."""

    async def get(self, agreement_type: str) -> AgreementMetadata:
        """Metadata for ``agreement_type``; raises ``PartnerCenterError`` if it cannot be had."""
        ...
