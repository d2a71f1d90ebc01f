"""Follow-up and task fields in the field registry (`guanxi.customization.registry`).

Follow-ups are a `CustomObject` (custom fields, layouts, saved views). Tasks are registered with
their built-in fields only (the Task model has no `custom_fields` column), under the object type
`TASK`, so that automation rules can be about them; the customisation pages do not offer them.
"""

from __future__ import annotations

from guanxi.customization.actions import picklist_choices, picklist_labels, register_picklist_column
from guanxi.customization.models import CustomObject, FieldType, Picklist, PicklistValue
from guanxi.customization.registry import FieldSpec, ObjectSpec, enum_choices, register_object
from guanxi.engagement.models import (
    FollowUp,
    FollowUpKind,
    FollowUpOutcome,
    Task,
    TaskPriority,
    TaskSource,
    TaskStatus,
)

# The object type of tasks in the field registry (not a `CustomObject`: no custom fields).
TASK = "task"

# The admin-editable picklist of follow-up types (seeded by migration engagement 0004 and by
# `guanxi up`); without it the built-in FollowUpKind values apply.
FOLLOW_UP_TYPES = "follow-up-type"


def follow_up_types() -> list[tuple[str, str, str]]:
    """The follow-up types one may choose now, as (key, zh, en)."""
    if Picklist.objects.filter(key=FOLLOW_UP_TYPES).exists():
        return picklist_choices(FOLLOW_UP_TYPES)
    return enum_choices(FollowUpKind)


def follow_up_type_labels() -> dict[str, tuple[str, str]]:
    """Every follow-up type ever offered -> (zh, en), so old records keep their label."""
    labels = {key: (zh, en) for key, zh, en in enum_choices(FollowUpKind)}
    labels.update(picklist_labels(FOLLOW_UP_TYPES))
    return labels


def ensure_follow_up_types() -> None:
    """Create the follow-up type picklist from the built-in types if it does not exist (idempotent)."""
    picklist, created = Picklist.objects.get_or_create(
        key=FOLLOW_UP_TYPES, defaults={"label_zh": "跟进方式", "label_en": "Follow-up types"}
    )
    if created:
        for position, (key, zh, en) in enumerate(enum_choices(FollowUpKind)):
            PicklistValue.objects.create(
                picklist=picklist, key=key, label_zh=zh, label_en=en, position=position
            )


def builtin_fields() -> list[FieldSpec]:
    return [
        FieldSpec("kind", FieldType.SINGLE_SELECT, "方式", "Type", choices=follow_up_types(),
                  all_choices=follow_up_type_labels()),
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


def _user_name(user) -> str:
    return (user.display_name or user.username) if user is not None else ""


def task_fields() -> list[FieldSpec]:
    return [
        FieldSpec("title", FieldType.TEXT, "标题", "Title", required=True),
        FieldSpec("description", FieldType.LONG_TEXT, "说明", "Description", sortable=False),
        FieldSpec("owner", FieldType.USER, "负责人", "Responsible", path="owner_id",
                  getter=lambda t: _user_name(t.owner)),
        FieldSpec("customer", FieldType.LINKED_RECORD, "客户", "Customer", path="customer_id",
                  getter=lambda t: t.customer.name if t.customer_id else ""),
        FieldSpec("due_at", FieldType.DATETIME, "截止时间", "Due"),
        FieldSpec("priority", FieldType.SINGLE_SELECT, "优先级", "Priority", numeric_keys=True,
                  choices=[(str(key), zh, en) for key, zh, en in enum_choices(TaskPriority)]),
        FieldSpec("status", FieldType.SINGLE_SELECT, "状态", "Status", choices=enum_choices(TaskStatus)),
        FieldSpec("source", FieldType.SINGLE_SELECT, "来源", "Source", choices=enum_choices(TaskSource)),
        FieldSpec("created_at", FieldType.DATETIME, "创建时间", "Created"),
        FieldSpec("completed_at", FieldType.DATETIME, "完成时间", "Completed"),
    ]  # fmt: skip


def register() -> None:
    register_picklist_column(FOLLOW_UP_TYPES, FollowUp, "kind")
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
    register_object(ObjectSpec(object_type=TASK, model=Task, builtin=task_fields))
