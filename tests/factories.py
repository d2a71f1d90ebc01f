"""Test data builders (through the real actions, so audit and events are real too)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from guanxi.core.actions import create_department, create_user
from guanxi.core.models import Role
from guanxi.core.permissions import DataScope, Perm
from guanxi.customers import actions as customer_actions

_seq = itertools.count(1)
PASSWORD = "test-pass-123"


def make_user(username=None, *, role=None, department=None, manager=None, **kwargs):
    return create_user(
        username or f"user{next(_seq)}",
        password=PASSWORD,
        role=role,
        department=department,
        manager=manager,
        actor=None,
        **kwargs,
    )


def make_customer(owner=None, **data):
    data.setdefault("name", f"客户{next(_seq)}")
    return customer_actions.create_customer({"owner_id": owner.pk if owner else None, **data}, actor=None)


def build_org(roles) -> SimpleNamespace:
    """A small company with one user per data scope and one customer per owner.

    HQ
    └─ Sales ── East (manager_e; rep_e1, rep_e2 report to manager_e; viewer_e)
             └─ South (rep_s1)
    """
    hq = create_department("总部", actor=None)
    sales = create_department("销售部", parent=hq, actor=None)
    east = create_department("华东组", parent=sales, actor=None)
    south = create_department("华南组", parent=sales, actor=None)
    dept_viewer = Role.objects.create(
        code="dept_viewer",
        name="Dept viewer",
        data_scope=DataScope.DEPARTMENT,
        permissions=[Perm.CUSTOMER_VIEW, Perm.CUSTOMER_CHANGE],
    )
    o = SimpleNamespace(hq=hq, sales=sales, east=east, south=south)
    o.admin = make_user("admin1", role=roles["admin"], department=hq, is_superuser=True)
    o.director = make_user("director", role=roles["sales_director"], department=sales)
    o.manager_e = make_user("manager_e", role=roles["sales_manager"], department=east, manager=o.director)
    o.rep_e1 = make_user("rep_e1", role=roles["sales_rep"], department=east, manager=o.manager_e)
    o.rep_e2 = make_user("rep_e2", role=roles["sales_rep"], department=east, manager=o.manager_e)
    o.rep_s1 = make_user("rep_s1", role=roles["sales_rep"], department=south, manager=o.director)
    o.viewer_e = make_user("viewer_e", role=dept_viewer, department=east)
    o.marketing = make_user("marketing", role=roles["marketing"], department=hq)
    o.customers = {
        "c_e1": make_customer(o.rep_e1, name="客户甲", phone="13800000001"),
        "c_e2": make_customer(o.rep_e2, name="客户乙", phone="13800000002"),
        "c_s1": make_customer(o.rep_s1, name="客户丙", phone="13800000003"),
        "c_mgr": make_customer(o.manager_e, name="客户丁", phone="13800000004"),
        "c_dir": make_customer(o.director, name="客户戊", phone="13800000005"),
        "c_admin": make_customer(o.admin, name="客户己", phone="13800000006"),
        "c_pool": make_customer(None, name="客户庚", phone="13800000007"),
    }
    return o


def masked_phone_team(roles) -> SimpleNamespace:
    """The people of the masking tests: an administrator, and an owner and a rep in one department
    with the same role (department scope, may edit and export, no `customer.view_sensitive`), plus
    a phone-type custom field `backup_phone` (sensitive like the phone itself)."""
    from guanxi.customization import actions as customization
    from guanxi.customization.models import FieldType

    east = create_department("华东组", actor=None)
    role = Role.objects.create(
        code="dept_rep",
        name="Department rep",
        data_scope=DataScope.DEPARTMENT,
        permissions=[Perm.CUSTOMER_VIEW, Perm.CUSTOMER_CREATE, Perm.CUSTOMER_CHANGE, Perm.CUSTOMER_EXPORT],
    )
    admin = make_user("boss", role=roles["admin"], is_superuser=True)
    owner = make_user("owner", role=role, department=east)
    rep = make_user("rep", role=role, department=east)
    customization.create_custom_field(
        {"object_type": "customer", "key": "backup_phone", "label_zh": "备用电话", "label_en": "Backup phone",
         "type": FieldType.PHONE}, actor=admin)  # fmt: skip
    return SimpleNamespace(department=east, admin=admin, owner=owner, rep=rep)
