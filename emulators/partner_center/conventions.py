"""Fixed names of the simulated world: default credentials, tenant, user, templates and customer-id prefixes.

Everything here is fake and public by design; the values are readable so example files work without
configuring the simulator.
"""

from __future__ import annotations

from typing import Final

DEFAULT_TENANT_ID: Final = "00000000-0000-0000-0000-00000000a77e"
"""The partner tenant the simulator pretends to be; the token endpoint accepts any tenant unless told not to."""

DEFAULT_CLIENT_ID: Final = "00000000-0000-0000-0000-00000000c11e"
DEFAULT_CLIENT_SECRET: Final = "local-simulator-secret"
DEFAULT_REFRESH_TOKEN: Final = "local-simulator-refresh-token"
DEFAULT_USER_ID: Final = "00000000-0000-0000-0000-00000000a9e7"
"""The admin agent behind app+user tokens: the ``userId`` of attestations made with them."""

PARTNER_CENTER_RESOURCE: Final = "https://api.partnercenter.microsoft.com"
PARTNER_CENTER_SCOPE: Final = "https://api.partnercenter.microsoft.com/.default"

MCA: Final = "MicrosoftCustomerAgreement"
CLOUD_AGREEMENT: Final = "MicrosoftCloudAgreement"
FUTURE_AGREEMENT: Final = "MicrosoftFutureAgreement"
"""A type no client knows yet; ``agreementType=*`` lists it to prove clients ignore unknown types."""

MCA_TEMPLATE_ID: Final = "117a77b0-9360-443b-8795-c6dedc750cf9"
MCA_LINK: Final = "https://aka.ms/customeragreement"
CLOUD_AGREEMENT_TEMPLATE_ID: Final = "0c1a77b0-c10d-4a9e-8000-00000000c1a0"
CLOUD_AGREEMENT_LINK: Final = "https://aka.ms/microsoftcloudagreement"
FUTURE_AGREEMENT_TEMPLATE_ID: Final = "f0f0f0f0-0000-4000-8000-00000000f0f0"
FUTURE_AGREEMENT_LINK: Final = "https://aka.ms/futureagreement"

UNKNOWN_CUSTOMER_PREFIX: Final = "00000404"
"""A customer id whose first group is this is not a Partner Center tenant (unknown customer)."""
FOREIGN_CUSTOMER_PREFIX: Final = "00000403"
"""A customer id whose first group is this belongs to another partner (403, no commerce relationship)."""
