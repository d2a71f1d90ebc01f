"""Customer.tags points at `customization.Tag` (the tag model moved out of core; its table stays
`core_tag` and the link table `customers_customer_tags` keeps its `tag_id` column): state only."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0006_custom_fields_gin_index_postgresql"),
        ("customization", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="customer",
                    name="tags",
                    field=models.ManyToManyField(
                        blank=True, related_name="customers", to="customization.tag", verbose_name="tags"
                    ),
                ),
            ],
        ),
    ]
