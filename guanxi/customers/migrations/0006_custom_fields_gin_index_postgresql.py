"""GIN index (jsonb_path_ops) on the custom-field JSON columns, PostgreSQL only.

Custom-field filters use JSON containment (`custom_fields @> '{"key": "value"}'`) on PostgreSQL,
which this index serves; SQLite filters with json_extract and has no equivalent index type.
Not expressible as a model index that both backends accept, hence a conditional migration.
"""

from django.db import migrations

TABLES = {
    "customers_customer": "customer_custom_fields_gin",
    "sales_order": "order_custom_fields_gin",
    "engagement_followup": "followup_custom_fields_gin",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, index in TABLES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index} ON {table} USING gin (custom_fields jsonb_path_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in TABLES.values():
        schema_editor.execute(f"DROP INDEX IF EXISTS {index}")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_customer_pool"),
        ("sales", "0002_order_custom_fields"),
        ("engagement", "0002_followup_custom_fields"),
    ]

    operations = [migrations.RunPython(create, drop)]
