"""Rename, delete, restore and purge of a custom field: the definition changes at once, the stored
values are rewritten afterwards in short batches (`run_field_rewrite`), and meanwhile reads, filters
and writes work with both keys. Also picklist values in use: never dropped, merged instead."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from guanxi.core.models import AuditEntry
from guanxi.customers import actions as customer_actions
from guanxi.customers.models import Customer
from guanxi.customization import actions as customization
from guanxi.customization.models import CustomField, CustomFieldArchive, FieldStatus, FieldType, PicklistValue
from guanxi.customization.registry import Registry
from tests.conftest import drain
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

SOURCES = [
    {"key": "web", "label_zh": "官网", "label_en": "Website"},
    {"key": "expo", "label_zh": "展会", "label_en": "Trade show"},
    {"key": "ads", "label_zh": "广告", "label_en": "Ads"},
]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def define(admin, key: str, kind: str, **extra) -> CustomField:
    data = {"object_type": "customer", "key": key, "label_zh": key, "type": kind, **extra}
    return customization.create_custom_field(data, actor=admin)


def raw(customer_id: int) -> dict:
    """The JSON column as stored, read with SQL (no model code in between)."""
    import json

    with connection.cursor() as cur:
        cur.execute("SELECT custom_fields FROM customers_customer WHERE id = %s", [customer_id])
        value = cur.fetchone()[0]
    return json.loads(value) if isinstance(value, str) else value


def all_raw() -> dict[int, dict]:
    return {pk: raw(pk) for pk in Customer.objects.values_list("pk", flat=True)}


def names(conditions) -> list[str]:
    registry = Registry("customer")
    return sorted(
        Customer.objects.filter(registry.filter_q(conditions, user=None)).values_list("name", flat=True)
    )


class Stop(Exception):
    pass


def stop_after_first_batch(high: int, elapsed_ms: float) -> None:
    raise Stop(high)


def stop_after_batch_past(pk: int):
    """An on_batch that kills the run after the first batch that went past `pk` (a worker dying)."""

    def on_batch(high: int, elapsed_ms: float) -> None:
        if high > pk:
            raise Stop(high)

    return on_batch


@pytest.fixture
def source_field(org):
    return define(
        org.admin, "source_detail", FieldType.SINGLE_SELECT, label_en="Source detail", options=SOURCES
    )


@pytest.fixture
def valued(org, source_field):
    """Ten customers with a source (ids interleaved with customers without one)."""
    customers = {}
    for n in range(10):
        key = SOURCES[n % 3]["key"]
        customers[f"S{n}"] = make_customer(org.rep_e1, name=f"S{n}", custom_fields={"source_detail": key})
        make_customer(org.rep_e1, name=f"N{n}")
    return customers


# --------------------------------------------------------------------------- rename


def test_during_a_rename_reads_filters_and_writes_use_both_keys(org, valued, source_field):
    before = all_raw()
    definition = customization.rename_custom_field(source_field.pk, "lead_source", actor=org.admin)
    assert (definition.status, definition.key, definition.previous_key) == (
        FieldStatus.RENAMING,
        "lead_source",
        "source_detail",
    )
    assert all_raw() == before  # nothing rewritten yet: the worker has not run

    registry = Registry("customer")
    spec = registry.get("cf.lead_source")
    assert registry.get("cf.source_detail") is None
    s0, s1 = Customer.objects.get(name="S0"), Customer.objects.get(name="S1")
    assert spec.value_of(s0) == "web" and spec.value_of(s1) == "expo"
    assert spec.display(spec.value_of(s1)) == "Trade show"

    web = ["S0", "S3", "S6", "S9"]
    assert names([{"field": "cf.lead_source", "op": "eq", "value": "web"}]) == web
    assert names([{"field": "cf.lead_source", "op": "in", "value": ["web", "ads"]}]) == sorted(
        [*web, "S2", "S5", "S8"]
    )
    not_web = names([{"field": "cf.lead_source", "op": "ne", "value": "web"}])
    assert not set(web) & set(not_web) and "S1" in not_web and "N0" in not_web
    empty = names([{"field": "cf.lead_source", "op": "empty"}])
    assert not any(n.startswith("S") for n in empty) and "N0" in empty
    assert names([{"field": "cf.lead_source", "op": "not_empty"}]) == sorted(valued)
    ordering = registry.ordering("cf.lead_source", user=None)
    ordered = list(
        Customer.objects.filter(name__in=["S0", "S1", "S2"])
        .order_by(*ordering)
        .values_list("name", flat=True)
    )
    assert ordered == ["S2", "S1", "S0"]  # ads, expo, web (keys in alphabetical order)

    # Writes: the new key, the old key (a client not updated yet) and edits of other fields.
    customer_actions.update_customer(s0.pk, {"custom_fields": {"lead_source": "ads"}}, actor=org.admin)
    customer_actions.update_customer(s1.pk, {"custom_fields": {"source_detail": "web"}}, actor=org.admin)
    s2 = valued["S2"]
    customer_actions.update_customer(s2.pk, {"title": "经理", "custom_fields": {}}, actor=org.admin)
    assert raw(s0.pk) == {"lead_source": "ads"}
    assert raw(s1.pk) == {"lead_source": "web"}
    assert raw(s2.pk) == {"lead_source": "ads"}
    assert raw(valued["S3"].pk) == {"source_detail": "web"}  # untouched rows wait for the worker
    new = make_customer(org.rep_e1, name="S10", custom_fields={"lead_source": "展会"})
    assert raw(new.pk) == {"lead_source": "expo"}
    with pytest.raises(ValidationError) as excinfo:
        make_customer(org.rep_e1, name="S11", custom_fields={"source_detail": "radio"})
    assert list(excinfo.value.message_dict) == ["custom_fields.lead_source"]

    expected = {
        pk: ({"lead_source": v.get("lead_source", v.get("source_detail"))} if v else {})
        for pk, v in all_raw().items()
    }
    result = customization.run_field_rewrite(source_field.pk)
    assert result["batches"] >= 1
    assert all_raw() == expected
    definition.refresh_from_db()
    assert (definition.status, definition.key, definition.previous_key, definition.rewrite_cursor) == (
        FieldStatus.ACTIVE,
        "lead_source",
        "",
        0,
    )
    assert names([{"field": "cf.lead_source", "op": "eq", "value": "web"}]) == ["S1", "S3", "S6", "S9"]
    # A second run has nothing to do.
    assert customization.run_field_rewrite(source_field.pk)["batches"] == 0


def test_rename_rules(org, source_field):
    other = define(org.admin, "budget", FieldType.NUMBER)
    with pytest.raises(ValidationError) as excinfo:
        customization.rename_custom_field(other.pk, "source_detail", actor=org.admin)
    assert excinfo.value.message_dict == {"key": ["This object already has a field with this key."]}
    with pytest.raises(ValidationError):
        customization.rename_custom_field(other.pk, "Bad Key", actor=org.admin)
    customization.rename_custom_field(source_field.pk, "lead_source", actor=org.admin)
    # The old key stays reserved until the rewrite has finished, and one change at a time.
    with pytest.raises(ValidationError):
        customization.rename_custom_field(other.pk, "source_detail", actor=org.admin)
    with pytest.raises(ValidationError) as excinfo:
        customization.rename_custom_field(source_field.pk, "origin", actor=org.admin)
    assert excinfo.value.message_dict == {"key": ["Wait until the field's previous change has finished."]}
    with pytest.raises(ValidationError):
        customization.delete_custom_field(source_field.pk, actor=org.admin)
    from guanxi.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        customization.rename_custom_field(other.pk, "money", actor=org.rep_e1)
    assert CustomField.objects.get(pk=other.pk).key == "budget"


def test_rename_rewrite_is_resumable(org, valued, source_field):
    before = all_raw()
    customization.rename_custom_field(source_field.pk, "lead_source", actor=org.admin)
    with pytest.raises(Stop):
        customization.run_field_rewrite(
            source_field.pk, batch_size=4, on_batch=stop_after_batch_past(valued["S0"].pk)
        )
    definition = CustomField.objects.get(pk=source_field.pk)
    assert definition.status == FieldStatus.RENAMING and definition.rewrite_cursor > 0
    moved = [pk for pk, v in all_raw().items() if "lead_source" in v]
    waiting = [pk for pk, v in all_raw().items() if "source_detail" in v]
    assert moved and waiting
    assert (
        max(Customer.objects.filter(pk__in=moved).values_list("pk", flat=True)) <= definition.rewrite_cursor
    )
    assert min(waiting) > definition.rewrite_cursor

    batches = []
    result = customization.run_field_rewrite(
        source_field.pk, batch_size=4, on_batch=lambda high, ms: batches.append(high)
    )
    assert result["batches"] == len(batches) > 1
    assert batches == sorted(batches)
    after = all_raw()
    assert after == {pk: ({"lead_source": v["source_detail"]} if v else {}) for pk, v in before.items()}
    assert CustomField.objects.get(pk=source_field.pk).status == FieldStatus.ACTIVE


# --------------------------------------------------------------------------- delete / restore / purge


@pytest.fixture
def typed(org):
    """Four fields of different JSON types and six customers holding them (one holds none)."""
    admin = org.admin
    fields = {
        "vip": define(admin, "vip", FieldType.BOOLEAN),
        "hobbies": define(admin, "hobbies", FieldType.MULTI_SELECT, options="读书\n跑步\n围棋"),
        "score": define(admin, "score", FieldType.NUMBER),
        "nick": define(admin, "nick", FieldType.TEXT),
    }
    values = [
        {"vip": True, "hobbies": ["读书", "跑步"], "score": 3, "nick": "老王"},
        {"vip": False, "hobbies": ["围棋"], "score": 2.5, "nick": 'O\'Brien "quoted"'},
        {"vip": True, "score": -7, "nick": '{"not": "json"}'},
        {"hobbies": ["读书"], "score": 0},
        {"nick": "[1, 2]"},
        {},
    ]
    customers = [make_customer(org.rep_e1, name=f"T{n}", custom_fields=v) for n, v in enumerate(values)]
    for customer, value in zip(customers, values, strict=True):
        assert raw(customer.pk) == value
    return fields, customers


def _assert_same_types(a: dict, b: dict) -> None:
    assert a == b
    for key in a:
        assert type(a[key]) is type(b[key]), (key, a[key], b[key])


def test_delete_archives_values_and_restore_brings_them_back_exactly(org, typed):
    fields, customers = typed
    before = all_raw()
    for key, definition in fields.items():
        customization.delete_custom_field(definition.pk, actor=org.admin)
        # Hidden at once, values not touched until the worker runs.
        assert Registry("customer").get(f"cf.{key}") is None
        with pytest.raises(ValidationError):
            names([{"field": f"cf.{key}", "op": "not_empty"}])
        with pytest.raises(ValidationError):
            make_customer(org.rep_e1, custom_fields={key: "1"})
    assert all_raw() == before

    for definition in fields.values():
        customization.run_field_rewrite(definition.pk, batch_size=3)
        definition.refresh_from_db()
        assert definition.status == FieldStatus.DELETED
        archived = {a.object_id: a.value for a in CustomFieldArchive.objects.filter(field=definition)}
        holders = {pk: v[definition.key] for pk, v in before.items() if definition.key in v}
        _assert_same_types(archived, holders)
    assert all(v == {} for v in all_raw().values())

    # Restore (one of them with a stop half-way): values come back with their JSON types.
    for n, definition in enumerate(fields.values()):
        customization.restore_custom_field(definition.pk, actor=org.admin)
        if n == 0:
            with pytest.raises(Stop):
                customization.run_field_rewrite(definition.pk, batch_size=3, on_batch=stop_after_first_batch)
        customization.run_field_rewrite(definition.pk, batch_size=3)
        definition.refresh_from_db()
        assert (definition.status, definition.deleted_at, definition.purge_after) == (
            FieldStatus.ACTIVE,
            None,
            None,
        )
        assert not CustomFieldArchive.objects.filter(field=definition).exists()
    after = all_raw()
    for pk, value in before.items():
        _assert_same_types(after[pk], value)
    assert names([{"field": "cf.hobbies", "op": "has", "value": "读书"}]) == ["T0", "T3"]
    assert names([{"field": "cf.vip", "op": "eq", "value": True}]) == ["T0", "T2"]


def test_delete_rewrite_is_resumable_without_duplicates(org, valued, source_field):
    holders = {c.pk: c.custom_fields["source_detail"] for c in valued.values()}
    customization.delete_custom_field(source_field.pk, actor=org.admin)
    with pytest.raises(Stop):
        customization.run_field_rewrite(
            source_field.pk, batch_size=5, on_batch=stop_after_batch_past(valued["S0"].pk)
        )
    partial = CustomFieldArchive.objects.filter(field=source_field).count()
    assert 0 < partial < len(holders)
    customization.run_field_rewrite(source_field.pk, batch_size=5)
    archived = list(CustomFieldArchive.objects.filter(field=source_field).values_list("object_id", "value"))
    assert sorted(archived) == sorted(holders.items())  # each value once
    assert all("source_detail" not in v for v in all_raw().values())


def test_a_deleted_key_can_be_reused_and_the_old_field_cannot_be_restored_over_it(org, source_field):
    customer = make_customer(org.rep_e1, custom_fields={"source_detail": "web"})
    customization.delete_custom_field(source_field.pk, actor=org.admin)
    customization.run_field_rewrite(source_field.pk)
    reused = define(org.admin, "source_detail", FieldType.TEXT)
    customer_actions.update_customer(
        customer.pk, {"custom_fields": {"source_detail": "朋友介绍"}}, actor=None
    )
    with pytest.raises(ValidationError) as excinfo:
        customization.restore_custom_field(source_field.pk, actor=org.admin)
    assert excinfo.value.message_dict == {"key": ["Another field now uses this key; rename that one first."]}
    assert raw(customer.pk) == {"source_detail": "朋友介绍"}
    assert CustomField.objects.get(pk=reused.pk).status == FieldStatus.ACTIVE


def test_purge_after_the_retention_period_removes_archive_and_definition(org, valued, source_field):
    customization.delete_custom_field(source_field.pk, actor=org.admin)
    customization.run_field_rewrite(source_field.pk)
    definition = CustomField.objects.get(pk=source_field.pk)
    assert definition.purge_after - definition.deleted_at == dt.timedelta(days=30)
    assert CustomFieldArchive.objects.filter(field=definition).count() == len(valued)

    assert customization.purge_deleted_fields(now=definition.purge_after - dt.timedelta(seconds=1)) == 0
    assert CustomFieldArchive.objects.filter(field=definition).count() == len(valued)
    assert customization.purge_deleted_fields(now=definition.purge_after) == 1
    assert not CustomField.objects.filter(pk=definition.pk).exists()
    assert not CustomFieldArchive.objects.filter(field_id=definition.pk).exists()
    entries = AuditEntry.objects.filter(content_type__model="customfield", object_id=definition.pk)
    # The admin's delete and the purge by the system.
    deletes = entries.filter(action="delete").order_by("id").values_list("actor_label", flat=True)
    assert list(deletes) == ["admin1", "system"]


# --------------------------------------------------------------------------- the worker path


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_rename_and_delete_through_the_actions_and_the_worker(org, queue):
    definition = define(org.admin, "source_detail", FieldType.SINGLE_SELECT, options=SOURCES)
    customers = [
        make_customer(org.rep_e1, name=f"W{n}", custom_fields={"source_detail": SOURCES[n % 3]["key"]})
        for n in range(5)
    ]
    drain(queue)  # events of the customers created
    customization.rename_custom_field(definition.pk, "lead_source", actor=org.admin)
    # Enqueued on commit: the stored values are still under the old key until the worker runs.
    assert raw(customers[0].pk) == {"source_detail": "web"}
    results = drain(queue)
    assert any(isinstance(r, dict) and "batches" in r for r in results)
    for n, customer in enumerate(customers):
        assert raw(customer.pk) == {"lead_source": SOURCES[n % 3]["key"]}
    definition.refresh_from_db()
    assert (definition.status, definition.previous_key) == (FieldStatus.ACTIVE, "")

    customization.delete_custom_field(definition.pk, actor=org.admin)
    drain(queue)
    definition.refresh_from_db()
    assert definition.status == FieldStatus.DELETED
    assert CustomFieldArchive.objects.filter(field=definition).count() == 5
    assert all(raw(c.pk) == {} for c in customers)

    customization.restore_custom_field(definition.pk, actor=org.admin)
    drain(queue)
    for n, customer in enumerate(customers):
        assert raw(customer.pk) == {"lead_source": SOURCES[n % 3]["key"]}


# --------------------------------------------------------------------------- picklists


@pytest.fixture
def shared_picklist(org, source_field):
    """A single select and a multi select on the same picklist, with values in use."""
    multi = define(org.admin, "channels", FieldType.MULTI_SELECT, picklist_id=source_field.picklist_id)
    a = make_customer(
        org.rep_e1, name="PA", custom_fields={"source_detail": "web", "channels": ["web", "expo"]}
    )
    b = make_customer(
        org.rep_e1, name="PB", custom_fields={"source_detail": "expo", "channels": ["ads", "web"]}
    )
    c = make_customer(org.rep_e1, name="PC", custom_fields={"source_detail": "web"})
    return source_field, multi, a, b, c


def test_a_value_in_use_cannot_be_removed_from_a_picklist(org, shared_picklist):
    single, _multi, _a, _b, _c = shared_picklist
    keep = [s for s in SOURCES if s["key"] != "web"]
    with pytest.raises(ValidationError) as excinfo:
        customization.save_picklist({"values": keep}, actor=org.admin, picklist_id=single.picklist_id)
    # PA and PC by the single select, PA and PB by the multi select.
    assert excinfo.value.message_dict == {
        "values": ["官网 is used by 4 records: merge it into another value instead."]
    }
    assert PicklistValue.objects.get(picklist_id=single.picklist_id, key="web").is_active

    unused = [*SOURCES, {"key": "tv", "label_zh": "电视"}]
    customization.save_picklist({"values": unused}, actor=org.admin, picklist_id=single.picklist_id)
    customization.save_picklist({"values": SOURCES}, actor=org.admin, picklist_id=single.picklist_id)
    assert not PicklistValue.objects.get(picklist_id=single.picklist_id, key="tv").is_active
    assert "tv" not in [k for k, _zh, _en in Registry("customer").get("cf.source_detail").choices]


def test_merging_a_value_rewrites_single_and_multi_select_values(org, shared_picklist):
    single, _multi, a, b, c = shared_picklist
    web = PicklistValue.objects.get(picklist_id=single.picklist_id, key="web")
    expo = PicklistValue.objects.get(picklist_id=single.picklist_id, key="expo")
    changed = customization.merge_picklist_value(web.pk, expo.pk, actor=org.admin)
    assert changed == 4  # PA, PC (single) and PA, PB (multi): PA counted per field
    assert raw(a.pk) == {"source_detail": "expo", "channels": ["expo"]}
    assert raw(b.pk) == {"source_detail": "expo", "channels": ["ads", "expo"]}
    assert raw(c.pk) == {"source_detail": "expo"}
    web.refresh_from_db()
    assert (web.is_active, web.merged_into_id) == (False, expo.pk)
    spec = Registry("customer").get("cf.source_detail")
    assert "web" not in [k for k, _zh, _en in spec.choices]
    assert spec.choice_label("web") == "Website"  # old values (history, exports) still have a label
    with pytest.raises(ValidationError):
        customization.merge_picklist_value(expo.pk, expo.pk, actor=org.admin)
