"""GIN index (jsonb_path_ops) on deals' custom fields, PostgreSQL only (see customers 0006)."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS deal_custom_fields_gin ON sales_deal USING gin (custom_fields jsonb_path_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS deal_custom_fields_gin")


class Migration(migrations.Migration):
    dependencies = [("sales", "0003_deals_pipelines_stages")]

    operations = [migrations.RunPython(create, drop)]
