"""Seed the admin-editable picklist of follow-up types with the types that existed as fixed choices."""

from django.db import migrations

KEY = "follow-up-type"
VALUES = [
    ("call", "电话", "Call"),
    ("visit", "拜访", "Visit"),
    ("wechat", "微信", "WeChat"),
    ("email", "邮件", "Email"),
    ("meeting", "会议", "Meeting"),
    ("other", "其他", "Other"),
]


def seed(apps, schema_editor):
    Picklist = apps.get_model("core", "Picklist")
    PicklistValue = apps.get_model("core", "PicklistValue")
    picklist, _created = Picklist.objects.get_or_create(
        key=KEY, defaults={"label_zh": "跟进方式", "label_en": "Follow-up types"}
    )
    for position, (key, zh, en) in enumerate(VALUES):
        PicklistValue.objects.get_or_create(
            picklist=picklist, key=key, defaults={"label_zh": zh, "label_en": en, "position": position}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0003_follow_up_type_picklist"),
        ("core", "0004_customisation_fields_picklists_layouts_views"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
