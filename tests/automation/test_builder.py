"""The rule builder: the form's fields <-> the rule definition (builder.py), the new/edit pages
(saved through rules.save_rule, post/redirect/get, a refused rule shown again as typed with the
message next to its part and nothing saved), the rule page's preview, dry run, manual run and
delete; settings.manage only."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from django.test import Client

from guanxi.automation import builder, templating
from guanxi.automation.actions import rules
from guanxi.automation.fields import OBJECT_TYPES, Catalogue
from guanxi.automation.models import Rule, RuleVersion
from guanxi.customization import actions as customization
from guanxi.customization.models import FieldType
from guanxi.webhooks.models import WebhookEndpoint
from tests.factories import PASSWORD, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(org):
    """A custom single-select field "grade" on customers."""
    options = [
        {"key": "gold", "label_zh": "金", "label_en": "Gold"},
        {"key": "silver", "label_zh": "银", "label_en": "Silver"},
    ]
    return customization.create_custom_field({"object_type": "customer", "key": "grade", "label_zh": "等级中文",
                                              "label_en": "Grade", "type": FieldType.SINGLE_SELECT, "options": options},
                                             actor=org.admin)  # fmt: skip


def _browser(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _form(**changes) -> dict:
    """What the builder posts for: customer created in Shanghai -> task titled with the name."""
    data = {
        "name": "上海新客户回访", "description": "", "object_type": "customer", "trigger_type": "created",
        "cond_mode": "all", "f_group": [""], "f_field": ["city"], "f_op": ["eq"], "f_value": ["上海"],
        "step": ["k1"], "sk1_type": "create_task", "sk1_title": "回访 {{ customer.name }}",
        "sk1_description": "", "sk1_due_in_hours": "24", "sk1_assignee": "owner",
    }  # fmt: skip
    data.update(changes)
    return data


def _query(data: dict) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, value in data.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    return query


# --------------------------------------------------------------------------- builder.py


def test_form_fields_become_the_definition_with_groups_and_ordered_steps():
    post = _query(_form(**{
        "cond_mode": "any", "group": ["g1"], "group_mode_g1": "all",
        "f_group": ["", "g1", "g1"], "f_field": ["city", "tier", "name"], "f_op": ["eq", "in", "not_empty"],
        "f_value": ["上海", "A, B", ""],
        "step": ["k2", "k1"], "sk2_type": "notify", "sk2_to": ["owner", "owner_manager"], "sk2_title": "T",
        "sk2_body": "", "trigger_type": "field_changed", "trigger_field": "tier", "trigger_to": "A",
    }))  # fmt: skip
    definition = builder.rule_from_form(post)
    assert definition["trigger"] == {"type": "field_changed", "field": "tier", "to": "A"}
    assert definition["conditions"] == {"any": [
        {"field": "city", "op": "eq", "value": "上海"},
        {"all": [{"field": "tier", "op": "in", "value": "A, B"}, {"field": "name", "op": "not_empty"}]},
    ]}  # fmt: skip
    assert [s["type"] for s in definition["actions"]] == ["notify", "create_task"]
    assert definition["actions"][0] == {
        "type": "notify",
        "to": ["owner", "owner_manager"],
        "title": "T",
        "body": "",
    }
    # ... which clean_rule accepts, and which the builder shows again as it was.
    assert rules.clean_rule(definition)["conditions"] == definition["conditions"]
    state = builder.form_state(definition)
    assert state["cond_mode"] == "any" and [r["ref"] for r in state["rows"]] == ["city"]
    assert [(g["mode"], [r["ref"] for r in g["rows"]]) for g in state["groups"]] == [
        ("all", ["tier", "name"])
    ]
    assert state["groups"][0]["rows"][0]["value"] == "A, B"
    assert [s["type"] for s in state["steps"]] == ["notify", "create_task"]
    assert state["steps"][0]["values"]["to"] == ["owner", "owner_manager"]


def test_trigger_shapes_round_trip_through_the_form():
    cases = [
        ({"trigger_type": "relative_time", "trigger_date_field": "last_order_at", "trigger_days": "30",
          "trigger_direction": "before", "trigger_window_days": "5", "trigger_at_hour": "10"},
         {"type": "relative_time", "field": "last_order_at", "yearly": False, "days": "-30",
          "window_days": "5", "at_hour": "10"}),
        ({"trigger_type": "schedule", "cron_minute": "0", "cron_hour": "9", "cron_day_of_week": "1"},
         {"type": "schedule", "cron": "0 9 * * 1"}),
        ({"trigger_type": "updated", "trigger_fields": ["tier", "city"]}, {"type": "updated", "fields": ["tier", "city"]}),
    ]  # fmt: skip
    for fields, trigger in cases:
        definition = builder.rule_from_form(_query(_form(**fields)))
        assert definition["trigger"] == trigger
        cleaned = rules.clean_trigger(definition["trigger"], "customer")
        shown = builder.form_state({**definition, "trigger": cleaned})["trigger"]
        again = builder.rule_from_form(_query(_form(**_trigger_fields(shown))))["trigger"]
        assert rules.clean_trigger(again, "customer") == cleaned


def _trigger_fields(shown: dict) -> dict:
    fields = {"trigger_type": shown["type"], "trigger_date_field": shown["date_field"], "trigger_days": shown["days"],
              "trigger_direction": shown["direction"], "trigger_window_days": shown["window_days"],
              "trigger_at_hour": shown["at_hour"], "trigger_fields": shown["fields"]}  # fmt: skip
    fields.update({f"cron_{part}": value for part, value in shown["cron"].items()})
    return fields


def test_every_variable_the_picker_offers_is_accepted_by_the_template_check():
    for object_type in OBJECT_TYPES:
        offered = templating.variables(object_type)
        assert "customer.name" in [v for v, _l in offered] and "rule.name" in [v for v, _l in offered]
        for variable, _label in offered:
            templating.check("{{ " + variable + " }}", object_type, label="t")
    assert "deal.amount" in [v for v, _l in templating.variables("deal")]


def test_update_field_offers_only_fields_a_rule_may_set(fields):
    catalogue = Catalogue("customer")
    offered = [s.ref for s in builder.Options("customer").settable_fields]
    assert "tier" in offered and "cf.grade" in offered and "last_order_at" not in offered
    for ref in offered:
        spec = catalogue.get(ref)
        value = spec.choices[0][0] if spec.choices else ""
        try:
            rules.clean_steps([{"type": "update_field", "field": ref, "value": value}], "customer")
        except Exception as exc:  # a value may be wrong for the type, never the field
            assert "cannot be set" not in str(exc), ref


# --------------------------------------------------------------------------- pages


def test_build_a_rule_in_the_page_then_edit_it_into_a_new_version(org):
    admin = _browser(org.admin, "zh-hans")
    page = admin.get("/settings/automation/new/")
    assert page.status_code == 200 and 'id="add-condition"' in page.content.decode()
    created = admin.post("/settings/automation/new/", _form())
    rule = Rule.objects.get()
    assert created.status_code == 302 and created.url == f"/settings/automation/{rule.pk}/"
    assert rule.trigger == {"type": "created"} and rule.enabled is False
    assert rule.conditions == {"all": [{"field": "city", "op": "eq", "value": "上海"}]}
    assert rule.actions == [{"type": "create_task", "title": "回访 {{ customer.name }}", "description": "",
                             "due_in_hours": 24, "assignee": "owner"}]  # fmt: skip
    edit = admin.get(f"/settings/automation/{rule.pk}/edit/").content.decode()
    assert 'value="上海上海"' not in edit and 'value="上海"' in edit and "回访 {{ customer.name }}" in edit
    saved = admin.post(
        f"/settings/automation/{rule.pk}/edit/", _form(name="上海新客户回访（改）", enabled="1")
    )
    assert saved.status_code == 302
    rule.refresh_from_db()
    assert rule.version == 2 and rule.enabled and rule.name.endswith("（改）")
    assert list(rule.versions.values_list("version", flat=True).order_by("version")) == [1, 2]


@pytest.mark.parametrize(
    "changes, part, message",
    [
        ({"f_field": ["nope"]}, "conditions", "unknown field nope"),
        ({"f_field": ["tier"], "f_op": ["gt"], "f_value": ["A"]}, "conditions", "cannot be filtered with gt"),
        ({"sk1_title": "回访 {{ customer.nmae }}"}, "actions", "unknown variable {{ customer.nmae }}"),
        ({"sk1_type": "webhook", "sk1_endpoint_id": "", "sk1_url": "ftp://example.com/hook"}, "actions",
         "URL: The URL must start with http:// or https://."),
    ],
)  # fmt: skip
def test_bad_input_is_shown_again_next_to_its_part_and_nothing_is_saved(org, changes, part, message):
    admin = _browser(org.admin)
    rule = rules.save_rule(builder.rule_from_form(_query(_form())), actor=org.admin)
    for path in ("/settings/automation/new/", f"/settings/automation/{rule.pk}/edit/"):
        response = admin.post(path, _form(name="改过的名字", **changes))
        html = response.content.decode()
        assert response.status_code == 422 and 'id="builder-errors"' in html
        assert f'data-part="{part}">' in html and message in html.replace("&#x27;", "'"), html
        assert 'value="改过的名字"' in html  # what was typed is kept
    assert (
        Rule.objects.count() == 1
        and RuleVersion.objects.count() == 1
        and not WebhookEndpoint.objects.exists()
    )
    assert Rule.objects.get().name == "上海新客户回访"


def test_a_webhook_step_with_a_url_gets_an_endpoint_of_its_own(org):
    admin = _browser(org.admin)
    form = _form(
        sk1_type="webhook", sk1_endpoint_id="", sk1_url="https://example.com/hook", sk1_fields=["city"]
    )
    assert admin.post("/settings/automation/new/", form).status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.url == "https://example.com/hook" and endpoint.event_types == []
    assert Rule.objects.get().actions == [{"type": "webhook", "endpoint_id": endpoint.pk, "fields": ["city"]}]
    assert admin.post("/settings/automation/new/", {**form, "name": "第二条"}).status_code == 302
    assert WebhookEndpoint.objects.count() == 1  # the same URL: the same endpoint


def test_the_htmx_pieces_follow_the_rule_object(org, fields):
    admin = _browser(org.admin)
    row = admin.get("/settings/automation/filter-row/", {"object_type": "deal", "f_field": "customer.tier",
                                                          "f_group": "g1"}).content.decode()  # fmt: skip
    assert 'name="f_group" value="g1"' in row and 'value="customer.tier" selected' in row
    assert admin.get("/settings/automation/filter-row/", {"object_type": "spaceship"}).status_code == 404
    step = admin.get("/settings/automation/step/", {"object_type": "customer", "key": "k9", "sk9_type": "update_field",
                                                     "sk9_field": "cf.grade"}).content.decode()  # fmt: skip
    assert 'name="sk9_value"' in step and 'value="gold"' in step  # the value picker fits the field
    group = admin.get("/settings/automation/group/", {"object_type": "customer"}).content.decode()
    assert 'name="group"' in group and "group_mode_" in group


def test_rule_page_previews_dry_runs_runs_by_hand_and_deletes(org):
    admin = _browser(org.admin)
    shanghai = make_customer(org.rep_e1, name="沪上客户", city="上海")
    make_customer(org.rep_e1, name="京城客户", city="北京")
    rule = rules.save_rule(builder.rule_from_form(_query(_form(trigger_type="manual"))), actor=org.admin)
    page = admin.get(f"/settings/automation/{rule.pk}/").content.decode()
    assert (
        'id="preview-count"' in page
        and f'href="/customers/{shanghai.pk}/"' in page
        and "京城客户" not in page
    )
    dry = admin.get(f"/settings/automation/{rule.pk}/", {"record": shanghai.pk}).content.decode()
    assert "回访 沪上客户" in dry and not shanghai.tasks.exists()
    assert (
        "No such record"
        in admin.get(f"/settings/automation/{rule.pk}/", {"record": "999999"}).content.decode()
    )
    admin.post(f"/settings/automation/{rule.pk}/run/", {"object_ids": f"{shanghai.pk}, 999999"})
    assert shanghai.tasks.filter(title="回访 沪上客户").exists()
    assert admin.post(f"/settings/automation/{rule.pk}/delete/").url == "/settings/automation/"
    assert Rule.objects.get().deleted_at is not None
    assert admin.get(f"/settings/automation/{rule.pk}/edit/").status_code == 404


def test_a_rep_gets_403_from_the_builder_and_nothing_changes(org):
    rule = rules.save_rule(builder.rule_from_form(_query(_form())), actor=org.admin)
    rep = _browser(org.rep_e1)
    for path in ("/settings/automation/new/", f"/settings/automation/{rule.pk}/edit/",
                 "/settings/automation/filter-row/?object_type=customer", "/settings/automation/step/?object_type=customer",
                 "/settings/automation/group/?object_type=customer"):  # fmt: skip
        assert rep.get(path).status_code == 403, path
    assert rep.post("/settings/automation/new/", _form(name="x")).status_code == 403
    assert rep.post(f"/settings/automation/{rule.pk}/edit/", _form(name="x")).status_code == 403
    assert rep.post(f"/settings/automation/{rule.pk}/delete/").status_code == 403
    assert rep.post(f"/settings/automation/{rule.pk}/run/", {"object_ids": "1"}).status_code == 403
    assert (
        Rule.objects.count() == 1
        and Rule.objects.get().version == 1
        and Rule.objects.get().deleted_at is None
    )
