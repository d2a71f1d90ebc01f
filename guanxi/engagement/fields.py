"""Follow-up fields in the field registry (`guanxi.core.customfields`)."""

from __future__ import annotations

from guanxi.core.customfields import FieldSpec, ObjectSpec, enum_choices, register_object
from guanxi.core.models import CustomObject, FieldType
from guanxi.engagement.models import FollowUpKind, FollowUpOutcome


def builtin_fields() -> list[FieldSpec]:
    return [
        FieldSpec("kind", FieldType.SINGLE_SELECT, "方式", "Type", choices=enum_choices(FollowUpKind)),
        FieldSpec("content", FieldType.LONG_TEXT, "内容", "Content", sortable=False),
        FieldSpec("outcome", FieldType.SINGLE_SELECT, "结果", "Outcome", choices=enum_choices(FollowUpOutcome)),
        FieldSpec("next_step", FieldType.TEXT, "下一步", "Next step"),
        FieldSpec("next_follow_up_at", FieldType.DATETIME, "下次跟进", "Next follow-up"),
        FieldSpec("occurred_at", FieldType.DATETIME, "时间", "Time"),
        FieldSpec("customer", FieldType.LINKED_RECORD, "客户", "Customer", path="customer_id",
             getter=lambda f: f.customer.name),
        FieldSpec("author", FieldType.USER, "记录人", "Author", path="author_id",
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
