"""Customer fields in the field registry (`guanxi.core.customfields`): built-in fields and defaults.

Refs are the names the customer form and the API use ("company_name", "owner"), so a form layout,
a saved view's columns and filters, an export and the API filters all speak the same language.
"""

from __future__ import annotations

from collections.abc import Iterable

from guanxi.core.customfields import FieldSpec, ObjectSpec, register_object
from guanxi.core.models import CustomObject, FieldType
from guanxi.customers.models import Channel, CustomerKind, Gender, LifecycleStage, Tier


def _choices(enum) -> list[tuple[str, str, str]]:
    from django.utils import translation

    result = []
    for value, label in enum.choices:
        if not value:
            continue
        with translation.override("zh-hans"):
            zh = str(label)
        with translation.override("en"):
            en = str(label)
        result.append((value, zh, en))
    return result


def _spec(ref: str, kind: str, zh: str, en: str, **extra) -> FieldSpec:
    spec = FieldSpec(ref=ref, type=kind, label_zh=zh, label_en=en, **extra)
    if spec.choices and not spec.all_choices:
        spec.all_choices = {key: (z, e) for key, z, e in spec.choices}
    return spec


def _owner_name(customer) -> str:
    owner = customer.owner
    return (owner.display_name or owner.username) if owner else ""


def _primary(kind: str):
    def read(customer) -> str:
        from guanxi.customers.queries import primary_contact

        point = primary_contact(customer, kind)
        return point.value if point else ""

    return read


def builtin_fields() -> list[FieldSpec]:
    return [
        _spec("kind", FieldType.SINGLE_SELECT, "类型", "Type", choices=_choices(CustomerKind)),
        _spec("name", FieldType.TEXT, "名称", "Name", required=True),
        _spec("company_name", FieldType.TEXT, "公司", "Company", path="company__name",
              getter=lambda c: c.company.name if c.company_id else ""),
        _spec("title", FieldType.TEXT, "职务", "Job title"),
        _spec("phone", FieldType.PHONE, "手机/电话", "Mobile / phone", getter=_primary("phone"),
              filterable=False, sortable=False),
        _spec("email", FieldType.EMAIL, "邮箱", "Email", getter=_primary("email"), filterable=False,
              sortable=False),
        _spec("wechat_id", FieldType.TEXT, "微信号", "WeChat ID", getter=_primary("wechat_id"),
              filterable=False, sortable=False),
        _spec("gender", FieldType.SINGLE_SELECT, "性别", "Gender", choices=_choices(Gender)),
        _spec("birthday", FieldType.DATE, "生日", "Birthday"),
        _spec("industry", FieldType.TEXT, "行业", "Industry"),
        _spec("province", FieldType.TEXT, "省份", "Province"),
        _spec("city", FieldType.TEXT, "城市", "City"),
        _spec("address", FieldType.TEXT, "地址", "Address", sortable=False),
        _spec("source", FieldType.SINGLE_SELECT, "来源", "Source", choices=_choices(Channel)),
        _spec("owner", FieldType.USER, "负责人", "Owner", path="owner_id", getter=_owner_name),
        _spec("lifecycle_stage", FieldType.SINGLE_SELECT, "生命周期阶段", "Lifecycle stage",
              choices=_choices(LifecycleStage)),
        _spec("tier", FieldType.SINGLE_SELECT, "客户等级", "Tier", choices=_choices(Tier)),
        _spec("tags", FieldType.MULTI_SELECT, "标签", "Tags", path="tags__name", sortable=False, multi_valued=True,
              getter=lambda c: "、".join(t.name for t in c.tags.all())),
        _spec("notes", FieldType.LONG_TEXT, "备注", "Notes", sortable=False),
        _spec("created_at", FieldType.DATETIME, "创建时间", "Created"),
        _spec("updated_at", FieldType.DATETIME, "更新时间", "Updated"),
        _spec("last_follow_up_at", FieldType.DATETIME, "最近跟进", "Last follow-up"),
        _spec("completeness", FieldType.NUMBER, "资料完整度", "Completeness"),
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
    from guanxi.customers.models import Customer

    return Customer.objects.alive()


def _names(ids: Iterable[int]) -> dict[int, str]:
    from guanxi.customers.models import Customer

    return dict(Customer.objects.filter(pk__in=list(ids)).values_list("pk", "name"))


def _visible_ids(user, ids: Iterable[int]) -> set[int]:
    from guanxi.customers.models import Customer

    return set(
        Customer.objects.visible_to(user).alive().filter(pk__in=list(ids)).values_list("pk", flat=True)
    )


def register() -> None:
    from guanxi.customers.models import Customer

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
