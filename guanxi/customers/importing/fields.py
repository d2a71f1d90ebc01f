"""Mapping targets: the built-in fields and custom fields a column can go to, header aliases
in Chinese and English, suggested / validated / saved column mappings.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi import text as normalize
from guanxi.core import audit
from guanxi.core.exceptions import require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.customers import actions
from guanxi.customers.models import (
    ImportMapping,
)
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject

log = logging.getLogger(__name__)

_CONTACT_POINT_FIELDS = {"wechat_unionid": "wechat_unionid", "wechat_openid": "wechat_openid"}

# The built-in targets; every live customer custom field is a target too, as "cf.<key>"
# (`import_fields`), so a new custom field can be imported without code.
IMPORT_FIELDS: dict[str, Any] = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("Email"),
    "wechat_id": gettext_lazy("WeChat ID"),
    "wechat_unionid": gettext_lazy("WeChat unionid"),
    "wechat_openid": gettext_lazy("WeChat openid"),
    "company_name": gettext_lazy("Company"),
    "title": gettext_lazy("Job title"),
    "gender": gettext_lazy("Gender"),
    "birthday": gettext_lazy("Birthday"),
    "province": gettext_lazy("Province"),
    "city": gettext_lazy("City"),
    "address": gettext_lazy("Address"),
    "industry": gettext_lazy("Industry"),
    "tags": gettext_lazy("Tags"),
    "notes": gettext_lazy("Notes"),
    "external_id": gettext_lazy("External ID"),
    "owner": gettext_lazy("Owner"),
}
# A file must carry at least one of these, or no row could be created or matched.
KEY_FIELDS = ("name", "phone", "email", "wechat_id", "wechat_unionid", "wechat_openid", "external_id")

_ALIASES = {
    "name": "姓名 名称 名字 客户 客户名称 客户姓名 客户名 联系人 联系人姓名 会员姓名 name fullname customer customername contact contactname",
    "phone": "手机 手机号 手机号码 电话 联系电话 电话号码 移动电话 手机电话 联系手机 联系方式 mobile mobilephone phone phonenumber tel telephone cellphone cell",
    "email": "邮箱 电子邮箱 邮件 电子邮件 邮箱地址 email e-mail mail emailaddress",
    "wechat_id": "微信 微信号 微信id wechat wechatid weixin",
    "wechat_unionid": "unionid 微信unionid wechatunionid",
    "wechat_openid": "openid 微信openid wechatopenid",
    "company_name": "公司 单位 公司名称 单位名称 工作单位 所属公司 企业 企业名称 company companyname organization organisation employer",
    "title": "职务 职位 岗位 头衔 title jobtitle position",
    "gender": "性别 gender sex",
    "birthday": "生日 出生日期 出生年月日 birthday birthdate dateofbirth dob",
    "province": "省份 省 所在省份 所在省 province state",
    "city": "城市 所在城市 市 city",
    "address": "地址 详细地址 联系地址 通讯地址 住址 address",
    "industry": "行业 所属行业 industry",
    "tags": "标签 客户标签 tags tag labels",
    "notes": "备注 说明 备注信息 notes note remark remarks comment comments",
    "external_id": "外部编号 客户编号 编号 客户id 会员编号 会员号 会员id id externalid customerid customerno",
    "owner": "负责人 归属人 跟进人 所属销售 销售 客户经理 业务员 owner salesrep",
}
HEADER_ALIASES: dict[str, str] = {alias: f for f, words in _ALIASES.items() for alias in words.split()}
_BRACKETS_RE = re.compile(r"[(（\[【].*?[)）\]】]")


def header_key(header: str) -> str:
    """How a column header is compared with the aliases: folded (width, traditional -> simplified
    characters: 手機號碼 is 手机号码), lowercase, no spaces or notes."""
    text = _BRACKETS_RE.sub("", normalize.to_simplified(normalize.fold_width(header))).lower()
    return "".join(ch for ch in text if ch.isalnum() or ch == "-").replace("-", "") or text.strip()


def customer_registry() -> customfields.Registry:
    return customfields.Registry(CustomObject.CUSTOMER)


def import_fields(registry: customfields.Registry | None = None) -> dict[str, str]:
    """Every mapping target with its label (current language): the built-in fields, then each live
    customer custom field as "cf.<key>"."""
    registry = registry or customer_registry()
    targets = {f: str(label) for f, label in IMPORT_FIELDS.items()}
    for key, spec in registry.custom.items():
        targets[customfields.PREFIX + key] = spec.label
    return targets


def is_custom_target(target: str) -> bool:
    return target.startswith(customfields.PREFIX)


def resolve_target(target: str, registry: customfields.Registry) -> str | None:
    """The live target a (possibly saved) mapping target means: built-in fields as they are, a custom
    field by its key or, while it is being renamed, by its previous key; None when it no longer exists."""
    if not is_custom_target(target):
        return target if target in IMPORT_FIELDS else None
    key = target[len(customfields.PREFIX) :]
    if key in registry.custom:
        return target
    for spec in registry.custom.values():
        if spec.custom.previous_key == key:
            return customfields.PREFIX + spec.key
    return None


def stale_targets(mapping: dict[str, str], registry: customfields.Registry | None = None) -> list[str]:
    """Messages for columns mapped to custom fields that were deleted since the mapping was saved."""
    registry = registry or customer_registry()
    return [
        _("Column %(column)s is mapped to the custom field %(field)s, which no longer exists.")
        % {"column": header, "field": target[len(customfields.PREFIX) :]}
        for header, target in mapping.items()
        if target and is_custom_target(target) and resolve_target(target, registry) is None
    ]


def suggest_mapping(
    headers: list[str], *, allow_owner: bool = True, registry: customfields.Registry | None = None
) -> dict[str, str]:
    """{header: field} from header names in Chinese and English; each field at most once.

    A header equal to a custom field's label (Chinese or English) maps to that field first; then the
    built-in aliases; then a header equal to a custom field's key.
    """
    registry = registry or customer_registry()
    by_label: dict[str, str] = {}
    by_key: dict[str, str] = {}
    for key, spec in registry.custom.items():
        for label in (spec.label_zh, spec.label_en):
            if label and header_key(label):
                by_label.setdefault(header_key(label), customfields.PREFIX + key)
        by_key.setdefault(header_key(key), customfields.PREFIX + key)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        folded = header_key(header)
        for target in (by_label.get(folded), HEADER_ALIASES.get(folded), by_key.get(folded)):
            if target and target not in taken and (allow_owner or target != "owner"):
                mapping[header] = target
                taken.add(target)
                break
    return mapping


def clean_mapping(
    mapping: dict[str, str], headers: list[str], *, actor, registry: customfields.Registry | None = None
) -> dict[str, str]:
    """Validate a {header: field} mapping against the file's headers; raises ValidationError.

    Targets are the built-in fields and "cf.<key>" of live customer custom fields.
    """
    registry = registry or customer_registry()
    targets = import_fields(registry)
    cleaned: dict[str, str] = {}
    seen: dict[str, str] = {}
    errors: list[str] = []
    for header in headers:
        target = (mapping or {}).get(header) or ""
        if not target:
            continue
        live = resolve_target(target, registry) if isinstance(target, str) else None
        if live is None and isinstance(target, str) and is_custom_target(target):
            errors.append(
                _("Column %(column)s is mapped to the custom field %(field)s, which no longer exists.")
                % {"column": header, "field": target[len(customfields.PREFIX) :][:40]}
            )
        elif live is None:
            errors.append(_("Unknown target field for column %(column)s.") % {"column": header})
        elif live in seen:
            errors.append(
                _("Columns %(first)s and %(second)s are both mapped to %(field)s.")
                % {"first": seen[live], "second": header, "field": targets[live]}
            )
        else:
            target = live
            seen[target] = header
            cleaned[header] = target
    if "owner" in seen and actor is not None and not actor.has_perm_code(Perm.CUSTOMER_ASSIGN):
        errors.append(_("You may not assign customers to other users: do not map an owner column."))
    if not any(f in seen for f in KEY_FIELDS):
        errors.append(_("Map at least a name, phone, email, WeChat or external ID column."))
    if errors:
        raise ValidationError({"mapping": errors})
    return cleaned


@transaction.atomic
def save_mapping(name: str, mapping: dict[str, str], *, actor, options: dict | None = None) -> ImportMapping:
    """Save (or replace) the column mapping of one source of files, e.g. "展会名单"."""
    require(actor, Perm.CUSTOMER_IMPORT)
    try:
        name = normalize.clean_text(name or "", max_length=100)
    except normalize.NormalizationError as exc:
        raise ValidationError({"save_as": [actions._error_message(exc, 100)]})
    mapping = {str(h): f for h, f in mapping.items() if f in IMPORT_FIELDS or is_custom_target(f)}
    saved = ImportMapping.objects.select_for_update().filter(name=name).first()
    user = actor if isinstance(actor, User) else None
    if saved is None:
        saved = ImportMapping.objects.create(
            name=name, mapping=mapping, options=options or {}, updated_by=user
        )
        audit.record(AuditAction.CREATE, saved, actor=actor, before=None, after={"mapping": mapping})
    elif saved.mapping != mapping or (options is not None and saved.options != options):
        before = {"mapping": saved.mapping}
        saved.mapping, saved.updated_by = mapping, user
        if options is not None:
            saved.options = options
        saved.save(update_fields=["mapping", "options", "updated_by", "updated_at"])
        audit.record(AuditAction.UPDATE, saved, actor=actor, before=before, after={"mapping": mapping})
    return saved
