"""Actions of the customisation layer (零代码): the only code that writes its rows.

One module per topic (as Zulip's `zerver/actions/`): custom field definitions (`custom_fields`), the
background rewrite of their stored values (`rewrite`), picklists, tags, form layouts and saved views.
Each function checks permission (`settings.manage` for the company-wide definitions), runs in one
transaction, writes an audit entry and returns the row. Rename, delete and restore of a custom field
only change the definition; the stored values are rewritten afterwards by `run_field_rewrite` in the
worker, in short batches by id range (each its own transaction, so no table lock and no long row
locks), while reads and writes look at both keys (`CustomField.previous_key`) until it finishes.

This package's namespace is its interface (`from guanxi.customization import actions as
customization`; `customization.create_custom_field(...)`).
"""

from guanxi.customization.actions.custom_fields import (
    DEFAULT_RETENTION_DAYS,
    EDITABLE_FIELDS,
    RETENTION_SETTING,
    SAFE_RETYPES,
    SELECT_TYPES,
    create_custom_field,
    delete_custom_field,
    register_field_references,
    rename_custom_field,
    restore_custom_field,
    retention_days,
    update_custom_field,
)
from guanxi.customization.actions.layouts import default_layout, layout_for, save_form_layout
from guanxi.customization.actions.picklists import (
    merge_picklist_value,
    picklist_choices,
    picklist_labels,
    register_picklist_column,
    save_picklist,
    value_usage,
)
from guanxi.customization.actions.rewrite import (
    REWRITE_BATCH,
    REWRITE_TARGET_MS,
    purge_deleted_fields,
    run_field_rewrite,
)
from guanxi.customization.actions.saved_views import clean_view, delete_view, save_view, views_for
from guanxi.customization.actions.tags import save_tag, tag_allowed

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "EDITABLE_FIELDS",
    "RETENTION_SETTING",
    "REWRITE_BATCH",
    "REWRITE_TARGET_MS",
    "SAFE_RETYPES",
    "SELECT_TYPES",
    "clean_view",
    "create_custom_field",
    "default_layout",
    "delete_custom_field",
    "delete_view",
    "layout_for",
    "merge_picklist_value",
    "picklist_choices",
    "picklist_labels",
    "purge_deleted_fields",
    "register_field_references",
    "register_picklist_column",
    "rename_custom_field",
    "restore_custom_field",
    "retention_days",
    "run_field_rewrite",
    "save_form_layout",
    "save_picklist",
    "save_tag",
    "save_view",
    "tag_allowed",
    "update_custom_field",
    "value_usage",
    "views_for",
]
