"""The customisation models leave core's state (they live in the `customization` app now).

State only: their tables keep the `core_` names (see `customization.0001_initial`), so no row moves.
Runs after every migration that still used them as core models (the tag link of customers, the
seeding of the follow-up types). Existing content types are renamed to the new app, so admin log
entries and permissions that point at them stay valid.
"""

from django.db import migrations

MOVED = ["tag", "picklist", "picklistvalue", "customfield", "customfieldarchive", "formlayout", "savedview"]


def content_types_to(app_label: str, from_label: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        db = schema_editor.connection.alias
        taken = set(
            ContentType.objects.using(db)
            .filter(app_label=app_label, model__in=MOVED)
            .values_list("model", flat=True)
        )
        ContentType.objects.using(db).filter(app_label=from_label, model__in=MOVED).exclude(
            model__in=taken
        ).update(app_label=app_label)

    return move


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0007_event_delivery"),
        ("customization", "0001_initial"),
        ("customers", "0007_customer_tags_point_to_customization"),
        ("engagement", "0004_seed_follow_up_type_picklist"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(model_name="customfield", name="picklist"),
                migrations.RemoveField(model_name="customfieldarchive", name="field"),
                migrations.RemoveField(model_name="formlayout", name="role"),
                migrations.RemoveField(model_name="picklistvalue", name="picklist"),
                migrations.RemoveField(model_name="picklistvalue", name="merged_into"),
                migrations.RemoveField(model_name="savedview", name="department"),
                migrations.RemoveField(model_name="savedview", name="owner"),
                migrations.DeleteModel(name="Tag"),
                migrations.DeleteModel(name="CustomField"),
                migrations.DeleteModel(name="CustomFieldArchive"),
                migrations.DeleteModel(name="FormLayout"),
                migrations.DeleteModel(name="Picklist"),
                migrations.DeleteModel(name="PicklistValue"),
                migrations.DeleteModel(name="SavedView"),
            ],
        ),
        migrations.RunPython(
            content_types_to("customization", "core"), content_types_to("core", "customization")
        ),
    ]
