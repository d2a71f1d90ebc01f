"""Customer fields in the field registry (`guanxi.customization.registry`): built-in fields and defaults.

Refs are the names the customer form and the API use ("company_name", "owner"), so a form layout,
a saved view's columns and filters, an export and the API filters all speak the same language.
"""

from __future__ import annotations

from collections.abc import Iterable

from guanxi.customers.models import (
    SENSITIVE_CONTACTS,
    Channel,
    ContactKind,
    Customer,
    CustomerKind,
    Gender,
    ImportMapping,
    LifecycleStage,
    Tier,
)
from guanxi.customers.queries import primary_contact
from guanxi.customization.actions import register_field_references
from guanxi.customization.models import CustomObject, FieldType
from guanxi.customization.registry import FieldSpec, ObjectSpec, enum_choices, register_object


def _owner_name(customer) -> str:
    owner = customer.owner
    return (owner.display_name or owner.username) if owner else ""


def _primary(kind: str):
    def read(customer) -> str:
        point = primary_contact(customer, kind)
        return point.value if point else ""

    return read


def builtin_fields() -> list[FieldSpec]:
    return [
        FieldSpec("kind", FieldType.SINGLE_SELECT, "类型", "Type", choices=enum_choices(CustomerKind)),
        FieldSpec("name", FieldType.TEXT, "名称", "Name", required=True),
        FieldSpec("company_name", FieldType.TEXT, "公司", "Company", path="company__name",
              getter=lambda c: c.company.name if c.company_id else ""),
        FieldSpec("title", FieldType.TEXT, "职务", "Job title"),
        FieldSpec("phone", FieldType.PHONE, "手机/电话", "Mobile / phone", getter=_primary("phone"),
              filterable=False, sortable=False, sensitive=SENSITIVE_CONTACTS[ContactKind.PHONE][1]),
        FieldSpec("email", FieldType.EMAIL, "邮箱", "Email", getter=_primary("email"), filterable=False,
              sortable=False),
        FieldSpec("wechat_id", FieldType.TEXT, "微信号", "WeChat ID", getter=_primary("wechat_id"),
              filterable=False, sortable=False),
        FieldSpec("gender", FieldType.SINGLE_SELECT, "性别", "Gender", choices=enum_choices(Gender)),
        FieldSpec("birthday", FieldType.DATE, "生日", "Birthday"),
        FieldSpec("industry", FieldType.TEXT, "行业", "Industry"),
        FieldSpec("province", FieldType.TEXT, "省份", "Province"),
        FieldSpec("city", FieldType.TEXT, "城市", "City"),
        FieldSpec("address", FieldType.TEXT, "地址", "Address", sortable=False),
        FieldSpec("source", FieldType.SINGLE_SELECT, "来源", "Source", choices=enum_choices(Channel)),
        FieldSpec("owner", FieldType.USER, "负责人", "Owner", path="owner_id", getter=_owner_name),
        FieldSpec("lifecycle_stage", FieldType.SINGLE_SELECT, "生命周期阶段", "Lifecycle stage",
              choices=enum_choices(LifecycleStage)),
        FieldSpec("tier", FieldType.SINGLE_SELECT, "客户等级", "Tier", choices=enum_choices(Tier)),
        FieldSpec("tags", FieldType.MULTI_SELECT, "标签", "Tags", path="tags__name", sortable=False, multi_valued=True,
              getter=lambda c: "、".join(t.name for t in c.tags.all())),
        FieldSpec("notes", FieldType.LONG_TEXT, "备注", "Notes", sortable=False),
        FieldSpec("created_at", FieldType.DATETIME, "创建时间", "Created"),
        FieldSpec("updated_at", FieldType.DATETIME, "更新时间", "Updated"),
        FieldSpec("last_follow_up_at", FieldType.DATETIME, "最近跟进", "Last follow-up"),
        FieldSpec("completeness", FieldType.NUMBER, "资料完整度", "Completeness"),
    ]  # fmt: skip


def default_layout() -> list[dict]:
    return [
        {"title_zh": "基本信息", "title_en": "Basic information",
         "fields": ["kind", "name", "company_name", "title", "gender", "birthday"]},
        {"title_zh": "联系方式", "title_en": "Contact",
         "fields": ["phone", "email", "wechat_id", "province", "city", "address"]},
        {"title_zh": "销售信息", "title_en": "Sales",
         "fields": ["source", "owner", "lifecycle_stage", "tier", "industry", "tags", "notes"]},
    ]  # fmt: skip


def _unique_scope():
    return Customer.objects.alive()


def _names(ids: Iterable[int]) -> dict[int, str]:
    return dict(Customer.objects.filter(pk__in=list(ids)).values_list("pk", "name"))


def _visible_ids(user, ids: Iterable[int]) -> set[int]:
    return set(
        Customer.objects.visible_to(user).alive().filter(pk__in=list(ids)).values_list("pk", flat=True)
    )


def _rename_import_mapping_refs(swap) -> None:
    """Saved import mappings map headers to field references ("cf.<key>"); a renamed field follows."""
    for saved in ImportMapping.objects.all():
        mapping = {header: swap(target) for header, target in (saved.mapping or {}).items()}
        if mapping != saved.mapping:
            saved.mapping = mapping
            saved.save(update_fields=["mapping"])


def register() -> None:
    register_field_references(CustomObject.CUSTOMER, _rename_import_mapping_refs)

    register_object(
        ObjectSpec(
            object_type=CustomObject.CUSTOMER,
            model=Customer,
            builtin=builtin_fields,
            unique_scope=_unique_scope,
            names=_names,
            visible_ids=_visible_ids,
            default_layout=default_layout,
            required_refs=("kind", "name"),
        )
    )
