"""``TableLedger``: the ledger in an Azure Table Storage table, one entity per event.

``PartitionKey`` is the customer tenant id, ``RowKey`` the event id (``/`` and ``%`` percent-encoded: Table
keys refuse ``/``). The ledger is handed a ``TableClient`` and never builds one: ``open_table_client`` builds
one identity-based (``DefaultAzureCredential`` + the table endpoint) for Azure, and
``open_table_client_from_connection_string`` one for Azurite. In Azure the infrastructure creates the table;
``create_table_if_missing`` is for local runs and tests.

Guarded writes map onto HTTP conditions: a create is an insert (a lost race is 409), an update sends
``If-Match`` (a lost race is 412, or 404 if the entity vanished). Azure SDK exceptions are translated here,
once, into ``LedgerError``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from shared.attestation.ledger import LedgerEntry, LedgerError, LedgerQuery, StoredEntry
from shared.credentials import default_credential
from shared.ledger.codec import from_properties, to_properties


def row_key(event_id: str) -> str:
    """The RowKey of an event id: ``%`` and ``/`` percent-encoded (reversible)."""
    return event_id.replace("%", "%25").replace("/", "%2F")


def event_id_of(key: str) -> str:
    return key.replace("%2F", "/").replace("%25", "%")


def _fail_fast_options() -> dict[str, Any]:
    """The ledger sits on the queue path: a few quick retries and short timeouts, not the SDK's minutes."""
    return {"retry_total": 2, "retry_backoff_factor": 0.5, "connection_timeout": 5, "read_timeout": 10}


class TableLedger:
    """A ``Ledger`` on one Azure Table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def get(self, customer_tenant_id: str, event_id: str) -> StoredEntry | None:
        try:
            entity = await self._table.get_entity(customer_tenant_id, row_key(event_id))
        except ResourceNotFoundError as exc:
            if _code(exc) == "TableNotFound":
                raise self._translate(exc, "read") from exc
            return None
        except AzureError as exc:
            raise self._translate(exc, "read") from exc
        return StoredEntry(self._entry(entity), str(entity.metadata["etag"]))

    async def put(self, entry: LedgerEntry, *, if_match: str | None) -> str | None:
        properties = to_properties(entry)
        properties["RowKey"] = row_key(entry.event_id)
        try:
            if if_match is None:
                result = await self._table.create_entity(properties)
            else:
                result = await self._table.update_entity(
                    properties, mode=UpdateMode.REPLACE, etag=if_match, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError):
            return None  # 409 on an insert, 412 on an update: another writer got there first
        except ResourceNotFoundError as exc:
            if _code(exc) == "TableNotFound":
                raise self._translate(exc, "write") from exc
            return None  # the entity vanished under an If-Match write: a lost race too
        except AzureError as exc:
            raise self._translate(exc, "write") from exc
        return str(result["etag"])

    async def query(self, query: LedgerQuery) -> list[LedgerEntry]:
        clauses: list[str] = []
        parameters: dict[str, str] = {}
        for clause, name, value in (
            ("PartitionKey eq @customer", "customer", query.customer_tenant_id),
            ("state eq @state", "state", query.state.value if query.state else ""),
            ("reason eq @reason", "reason", query.reason),
            ("updatedAt ge @since", "since", query.since),
        ):
            if value:
                clauses.append(clause)
                parameters[name] = value
        try:
            if clauses:
                pages = self._table.query_entities(" and ".join(clauses), parameters=parameters)
            else:
                pages = self._table.list_entities()
            entries = [self._entry(entity) async for entity in pages]
        except AzureError as exc:
            raise self._translate(exc, "query") from exc
        return sorted(entries, key=lambda e: (e.customer_tenant_id, e.event_id))

    @staticmethod
    def _entry(entity: dict[str, Any]) -> LedgerEntry:
        return from_properties({**entity, "RowKey": event_id_of(str(entity["RowKey"]))})

    def _translate(self, exc: AzureError, action: str) -> LedgerError:
        code = _code(exc)
        lines = (exc.message or str(exc)).splitlines()
        return LedgerError(
            f"ledger table {self._table.table_name!r}: cannot {action}: {type(exc).__name__}"
            + (f" {code}" if code else "")
            + (f": {lines[0]}" if lines else "")
        )


_ODATA_CODE = re.compile(r'"code"\s*:\s*"([A-Za-z]+)"')


def _code(exc: AzureError) -> str:
    """The service's error code (``TableNotFound``, …), or "". The SDK leaves ``error_code`` unset on some
    answers (an insert's, from Azurite): then it is read from the OData error body quoted in the message."""
    code = getattr(exc, "error_code", None)
    if code:
        return str(getattr(code, "value", code))
    found = _ODATA_CODE.search(str(exc))
    return found.group(1) if found else ""


async def create_table_if_missing(table: TableClient) -> bool:
    """Create the table unless it exists (local runs and tests); True if this call created it."""
    try:
        await table.create_table()
    except ResourceExistsError:
        return False
    except AzureError as exc:
        raise LedgerError(f"cannot create ledger table {table.table_name!r}: {type(exc).__name__}") from exc
    return True


@asynccontextmanager
async def open_table_client(
    account_url: str,
    table_name: str,
    *,
    credential: AsyncTokenCredential | None = None,
    credential_factory: Callable[[], AsyncTokenCredential] = default_credential,
) -> AsyncIterator[TableClient]:
    """An identity-based client (Azure); a credential it builds is closed afterwards, a given one is not."""
    async with AsyncExitStack() as stack:
        if credential is None:
            credential = credential_factory()
            stack.push_async_callback(credential.close)
        client = TableClient(account_url, table_name, credential=credential, **_fail_fast_options())
        await stack.enter_async_context(client)
        yield client


@asynccontextmanager
async def open_table_client_from_connection_string(
    connection_string: str, table_name: str
) -> AsyncIterator[TableClient]:
    """A client from a connection string (Azurite, local runs); closed afterwards."""
    async with TableClient.from_connection_string(connection_string, table_name, **_fail_fast_options()) as client:
        yield client
