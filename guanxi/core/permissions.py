"""Permission codes and data scopes: the vocabulary of who may do what."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Perm(models.TextChoices):
    CUSTOMER_VIEW = "customer.view", _("View customers")
    CUSTOMER_CREATE = "customer.create", _("Create customers")
    CUSTOMER_CHANGE = "customer.change", _("Edit customers")
    CUSTOMER_DELETE = "customer.delete", _("Delete customers")
    CUSTOMER_ASSIGN = "customer.assign", _("Assign customer owners")
    CUSTOMER_EXPORT = "customer.export", _("Export customers")
    CUSTOMER_VIEW_SENSITIVE = "customer.view_sensitive", _("See unmasked phone numbers")
    CUSTOMER_IMPORT = "customer.import", _("Import customers")
    CUSTOMER_MERGE = "customer.merge", _("Review duplicates and merge customers")
    SETTINGS_MANAGE = "settings.manage", _("Change company settings")
    AUDIT_VIEW = "audit.view", _("View the audit log")
    ORG_MANAGE = "org.manage", _("Manage users, departments and roles")


class DataScope(models.TextChoices):
    OWN = "own", _("Own records")
    OWN_AND_SUBORDINATES = "own_subordinates", _("Own and subordinates' records")
    DEPARTMENT = "department", _("Department")
    DEPARTMENT_TREE = "department_tree", _("Department and sub-departments")
    ALL = "all", _("All records")


# Default roles created by `guanxi up` / demo data. Admins can edit them.
DEFAULT_ROLES = {
    "admin": {
        "name": _("Administrator"),
        "data_scope": DataScope.ALL,
        "permissions": [p.value for p in Perm],
    },
    "sales_director": {
        "name": _("Sales director"),
        "data_scope": DataScope.DEPARTMENT_TREE,
        "permissions": [
            Perm.CUSTOMER_VIEW,
            Perm.CUSTOMER_CREATE,
            Perm.CUSTOMER_CHANGE,
            Perm.CUSTOMER_DELETE,
            Perm.CUSTOMER_ASSIGN,
            Perm.CUSTOMER_EXPORT,
            Perm.CUSTOMER_VIEW_SENSITIVE,
            Perm.CUSTOMER_IMPORT,
            Perm.AUDIT_VIEW,
        ],
    },
    "sales_manager": {
        "name": _("Sales manager"),
        "data_scope": DataScope.OWN_AND_SUBORDINATES,
        "permissions": [
            Perm.CUSTOMER_VIEW,
            Perm.CUSTOMER_CREATE,
            Perm.CUSTOMER_CHANGE,
            Perm.CUSTOMER_ASSIGN,
            Perm.CUSTOMER_EXPORT,
            Perm.CUSTOMER_VIEW_SENSITIVE,
        ],
    },
    "sales_rep": {
        "name": _("Sales rep"),
        "data_scope": DataScope.OWN,
        "permissions": [Perm.CUSTOMER_VIEW, Perm.CUSTOMER_CREATE, Perm.CUSTOMER_CHANGE],
    },
    "service_agent": {
        "name": _("Service agent"),
        "data_scope": DataScope.DEPARTMENT,
        "permissions": [Perm.CUSTOMER_VIEW, Perm.CUSTOMER_CHANGE],
    },
    "data_steward": {
        "name": _("Data steward"),
        "data_scope": DataScope.ALL,
        "permissions": [
            Perm.CUSTOMER_VIEW,
            Perm.CUSTOMER_CHANGE,
            Perm.CUSTOMER_DELETE,
            Perm.CUSTOMER_IMPORT,
            Perm.CUSTOMER_MERGE,
            Perm.CUSTOMER_EXPORT,
            Perm.AUDIT_VIEW,
        ],
    },
    "finance": {
        "name": _("Finance"),
        "data_scope": DataScope.ALL,
        "permissions": [Perm.CUSTOMER_VIEW],
    },
    "marketing": {
        "name": _("Marketing"),
        "data_scope": DataScope.ALL,
        "permissions": [Perm.CUSTOMER_VIEW, Perm.CUSTOMER_EXPORT],
    },
}
