"""Customer actions: the only code that writes customers and their contact points.

This package's `__init__` is the customers app's action interface: callers write
`from guanxi.customers import actions` and call `actions.create_customer(data, actor=user)`; the
modules inside are how it is organised (Zulip's `zerver/actions/` is the model), and a name moves
between them without callers noticing. Every action validates its input, checks permission and data
scope, writes the rows, an audit entry and a domain event in one transaction, and does nothing (no
audit, no event) when nothing changed.

The modules, lower ones first (each imports only the ones above it, never this package):

| module | what |
|---|---|
| `messages` | translated messages for `guanxi.text` normalisation errors |
| `contacts` | contact values (normalised, displayed) and writing a customer's contact points |
| `cleaning` | `clean_customer_input`: the rules every path (page, API, import, webhooks) goes through |
| `tags` | a customer's tags; `bulk_tag` |
| `rows` | shared write steps: lock through the data scope, create a row, derived columns |
| `duplicates` | the duplicate check (查重) under the duplicate policy |
| `ingest` | `ingest_customer`: the identity pipeline of every channel (import, webhooks, upsert) |
| `customer` | `create_customer`, `update_customer`, `delete_customer`, `restore_customer` |
| `merge` | `merge_customers`, `unmerge`, `decide_duplicate` (engine in `customers/merging.py`) |

The owner of a customer is written by `customers/ownership.py: change_owner` only; the audited
snapshot of a customer is `customers/snapshots.py`. Names with a leading underscore are helpers the
modules share (and the import's bulk path replays); they are exported here for the callers that use
them (`importing`, `inbound`) and are not part of the interface for new code.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from guanxi.customers.actions.cleaning import (
    CHOICE_FIELDS,
    EDITABLE_FIELDS,
    NAME_MAX,
    PRIMARY_CONTACT_FIELDS,
    TEXT_LIMITS,
    clean_customer_input,
)
from guanxi.customers.actions.contacts import display_contact, normalize_contact
from guanxi.customers.actions.customer import (
    create_customer,
    delete_customer,
    restore_customer,
    update_customer,
)
from guanxi.customers.actions.duplicates import check_duplicates, duplicate_policy
from guanxi.customers.actions.ingest import ABSORBED_FIELDS, IngestOutcome, _absorb, ingest_customer
from guanxi.customers.actions.merge import decide_duplicate, merge_customers, unmerge
from guanxi.customers.actions.messages import _error_message
from guanxi.customers.actions.rows import _check_owner_change, _company_for, _create, get_for_write
from guanxi.customers.actions.tags import BULK_TAG_LIMIT, bulk_tag
from guanxi.customers.snapshots import SNAPSHOT_FIELDS, full_state, protect_snapshot, snapshot

__all__ = [
    # actions
    "bulk_tag",
    "create_customer",
    "decide_duplicate",
    "delete_customer",
    "ingest_customer",
    "merge_customers",
    "restore_customer",
    "unmerge",
    "update_customer",
    # what callers of the actions use
    "BULK_TAG_LIMIT",
    "CHOICE_FIELDS",
    "EDITABLE_FIELDS",
    "IngestOutcome",
    "NAME_MAX",
    "ABSORBED_FIELDS",
    "PRIMARY_CONTACT_FIELDS",
    "SNAPSHOT_FIELDS",
    "TEXT_LIMITS",
    "ValidationError",
    "check_duplicates",
    "clean_customer_input",
    "display_contact",
    "duplicate_policy",
    "full_state",
    "get_for_write",
    "normalize_contact",
    "protect_snapshot",
    "snapshot",
    # shared helpers that the import's bulk path and the inbound webhooks replay or reuse
    "_absorb",
    "_check_owner_change",
    "_company_for",
    "_create",
    "_error_message",
]
