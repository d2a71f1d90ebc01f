"""Follow-up fields in the field registry (`guanxi.core.customfields`)."""

from __future__ import annotations

from guanxi.core.customfields import FieldSpec, ObjectSpec, register_object
from guanxi.core.models import CustomObject, FieldType
from guanxi.customers.fields import _choices
from guanxi.engagement.models import FollowUpKind, FollowUpOutcome


def builtin_fields() -> list[FieldSpec]:
    def spec(ref, kind, zh, en, **extra):
        result = FieldSpec(ref=ref, type=kind, label_zh=zh, label_en=en, **extra)
        result.all_choices = {k: (z, e) for k, z, e in result.choices}
        return result

    return [
        spec("kind", FieldType.SINGLE_SELECT, "方式", "Type", choices=_choices(FollowUpKind)),
        spec("content", FieldType.LONG_TEXT, "内容", "Content", sortable=False),
        spec("outcome", FieldType.SINGLE_SELECT, "结果", "Outcome", choices=_choices(FollowUpOutcome)),
        spec("next_step", FieldType.TEXT, "下一步", "Next step"),
        spec("next_follow_up_at", FieldType.DATETIME, "下次跟进", "Next follow-up"),
        spec("occurred_at", FieldType.DATETIME, "时间", "Time"),
        spec("customer", FieldType.LINKED_RECORD, "客户", "Customer", path="customer_id",
             getter=lambda f: f.customer.name),
        spec("author", FieldType.USER, "记录人", "Author", path="author_id",
             getter=lambda f: f.author.display_name or f.author.username),
    ]  # fmt: skip


def register() -> None:
    from guanxi.engagement.models import FollowUp

    register_object(
        ObjectSpec(
            object_type=CustomObject.FOLLOW_UP,
            model=FollowUp,
            builtin=builtin_fields,
            default_layout=lambda: [
                {
                    "title_zh": "跟进",
                    "title_en": "Follow-up",
                    "fields": ["kind", "content", "outcome", "next_step", "next_follow_up_at"],
                }
            ],  # fmt: skip
            required_refs=("kind", "content"),
        )
    )
