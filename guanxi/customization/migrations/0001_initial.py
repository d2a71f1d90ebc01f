"""The customisation models, moved here from `core` (issue 9: core is the ground floor).

State only: the tables already exist (created by core's migrations) and keep their names through
`Meta.db_table`, so no row moves. `core.0008_customisation_models_move_to_customization_app` removes
the models from core's state after this one and after every migration that still used them there.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("core", "0007_event_delivery"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Picklist',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.SlugField(unique=True, verbose_name='key')),
                        ('label_zh', models.CharField(max_length=100, verbose_name='Chinese label')),
                        ('label_en', models.CharField(blank=True, max_length=100, verbose_name='English label')),
                    ],
                    options={
                        'verbose_name': 'picklist',
                        'verbose_name_plural': 'picklists',
                        'db_table': 'core_picklist',
                        'ordering': ['key'],
                    },
                ),
                migrations.CreateModel(
                    name='Tag',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=50, unique=True, verbose_name='name')),
                        ('color', models.CharField(default='secondary', max_length=20, verbose_name='colour')),
                        ('object_types', models.JSONField(blank=True, default=list, verbose_name='object types')),
                    ],
                    options={
                        'verbose_name': 'tag',
                        'verbose_name_plural': 'tags',
                        'db_table': 'core_tag',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='CustomField',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('object_type', models.CharField(choices=[('customer', 'Customer'), ('deal', 'Deal'), ('order', 'Order'), ('follow_up', 'Follow-up')], max_length=20, verbose_name='object')),
                        ('key', models.CharField(max_length=40, verbose_name='key')),
                        ('previous_key', models.CharField(blank=True, editable=False, max_length=40)),
                        ('label_zh', models.CharField(max_length=100, verbose_name='Chinese label')),
                        ('label_en', models.CharField(blank=True, max_length=100, verbose_name='English label')),
                        ('type', models.CharField(choices=[('text', 'Text'), ('long_text', 'Long text'), ('number', 'Number'), ('money', 'Money'), ('date', 'Date'), ('datetime', 'Date and time'), ('boolean', 'Yes / no'), ('single_select', 'Single select'), ('multi_select', 'Multi select'), ('user', 'User'), ('phone', 'Phone'), ('email', 'Email'), ('url', 'URL'), ('linked_record', 'Linked record')], max_length=20, verbose_name='type')),
                        ('required', models.BooleanField(default=False, verbose_name='required')),
                        ('unique', models.BooleanField(default=False, verbose_name='unique')),
                        ('default', models.JSONField(blank=True, null=True, verbose_name='default')),
                        ('regex', models.CharField(blank=True, max_length=200, verbose_name='validation pattern')),
                        ('min_value', models.DecimalField(blank=True, decimal_places=4, max_digits=20, null=True, verbose_name='minimum')),
                        ('max_value', models.DecimalField(blank=True, decimal_places=4, max_digits=20, null=True, verbose_name='maximum')),
                        ('max_length', models.PositiveIntegerField(blank=True, null=True, verbose_name='maximum length')),
                        ('help_zh', models.CharField(blank=True, max_length=300, verbose_name='Chinese help text')),
                        ('help_en', models.CharField(blank=True, max_length=300, verbose_name='English help text')),
                        ('linked_object', models.CharField(blank=True, choices=[('customer', 'Customer'), ('deal', 'Deal'), ('order', 'Order'), ('follow_up', 'Follow-up')], max_length=20, verbose_name='linked object')),
                        ('position', models.PositiveIntegerField(default=0, verbose_name='position')),
                        ('status', models.CharField(choices=[('active', 'Active'), ('renaming', 'Renaming'), ('deleting', 'Deleting'), ('deleted', 'Deleted (recoverable)'), ('restoring', 'Restoring')], default='active', max_length=20)),
                        ('deleted_at', models.DateTimeField(blank=True, null=True)),
                        ('purge_after', models.DateTimeField(blank=True, null=True)),
                        ('rewrite_cursor', models.BigIntegerField(default=0, editable=False)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('picklist', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='fields', to='customization.picklist', verbose_name='picklist')),
                    ],
                    options={
                        'verbose_name': 'custom field',
                        'verbose_name_plural': 'custom fields',
                        'db_table': 'core_customfield',
                        'ordering': ['object_type', 'position', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='PicklistValue',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=50, verbose_name='value')),
                        ('label_zh', models.CharField(max_length=100, verbose_name='Chinese label')),
                        ('label_en', models.CharField(blank=True, max_length=100, verbose_name='English label')),
                        ('position', models.PositiveIntegerField(default=0, verbose_name='position')),
                        ('color', models.CharField(default='secondary', max_length=20, verbose_name='colour')),
                        ('is_active', models.BooleanField(default=True, verbose_name='active')),
                        ('merged_into', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='customization.picklistvalue', verbose_name='merged into')),
                        ('picklist', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='values', to='customization.picklist')),
                    ],
                    options={
                        'verbose_name': 'picklist value',
                        'verbose_name_plural': 'picklist values',
                        'db_table': 'core_picklistvalue',
                        'ordering': ['picklist', 'position', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='SavedView',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('object_type', models.CharField(choices=[('customer', 'Customer'), ('deal', 'Deal'), ('order', 'Order'), ('follow_up', 'Follow-up')], max_length=20, verbose_name='object')),
                        ('name', models.CharField(max_length=100, verbose_name='name')),
                        ('visibility', models.CharField(choices=[('private', 'Only me'), ('team', 'My team (department)'), ('everyone', 'Everyone')], default='private', max_length=20, verbose_name='shared with')),
                        ('columns', models.JSONField(blank=True, default=list, verbose_name='columns')),
                        ('filters', models.JSONField(blank=True, default=list, verbose_name='filters')),
                        ('sort', models.CharField(blank=True, max_length=60, verbose_name='sort')),
                        ('kanban_field', models.CharField(blank=True, max_length=60, verbose_name='kanban by')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('department', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='core.department', verbose_name='team')),
                        ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='saved_views', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'saved view',
                        'verbose_name_plural': 'saved views',
                        'db_table': 'core_savedview',
                        'ordering': ['object_type', 'name', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='CustomFieldArchive',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('object_id', models.BigIntegerField()),
                        ('value', models.JSONField()),
                        ('field', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='archived_values', to='customization.customfield')),
                    ],
                    options={
                        'db_table': 'core_customfieldarchive',
                        'indexes': [models.Index(fields=['field', 'object_id'], name='cf_archive_field_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='FormLayout',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('object_type', models.CharField(choices=[('customer', 'Customer'), ('deal', 'Deal'), ('order', 'Order'), ('follow_up', 'Follow-up')], max_length=20, verbose_name='object')),
                        ('sections', models.JSONField(default=list, verbose_name='sections')),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('role', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, to='core.role', verbose_name='role')),
                    ],
                    options={
                        'verbose_name': 'form layout',
                        'verbose_name_plural': 'form layouts',
                        'db_table': 'core_formlayout',
                        'constraints': [models.UniqueConstraint(condition=models.Q(('role__isnull', True)), fields=('object_type',), name='form_layout_default_unique'), models.UniqueConstraint(fields=('object_type', 'role'), name='form_layout_role_unique')],
                    },
                ),
                migrations.AddConstraint(
                    model_name='customfield',
                    constraint=models.UniqueConstraint(condition=models.Q(('status', 'deleted'), _negated=True), fields=('object_type', 'key'), name='custom_field_key_unique'),
                ),
                migrations.AddConstraint(
                    model_name='picklistvalue',
                    constraint=models.UniqueConstraint(fields=('picklist', 'key'), name='picklist_value_key_unique'),
                ),
            ],
        ),
    ]
