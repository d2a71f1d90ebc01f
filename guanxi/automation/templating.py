"""Message templates of rule steps: `{{ customer.name }}`, `{{ record.cf.source_detail }}`, ...

Django's template language with a fixed set of variables, checked when the rule is saved: a
template naming a variable that does not exist is refused with the variable's name, so a typo never
reaches a customer's inbox. Values are the registry's presented text (a sensitive field shows its
mask: a template is read by people who may not reveal it).

Variables: `record` (the rule's object) and the same under its type's name (`customer`, `deal`,
`order`, `follow_up`, `task`), with every field ref (`record.tier`, `record.owner`) and custom fields
under `cf` (`record.cf.<key>`); for objects that belong to a customer (a deal, an order, a follow-up,
a task), `customer.*` as well (`{{ customer.name }}`, empty when a task has no customer);
`rule.name`; `today`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import VariableNode
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.automation.fields import Catalogue, object_label
from guanxi.customization.models import CustomObject

ENGINE = Engine(autoescape=False, debug=False, builtins=["django.template.defaultfilters"])
MAX_LENGTH = 5000


class FieldValues(Mapping):
    """One record's fields as template values, computed only when a template reads them."""

    def __init__(self, catalogue: Catalogue, obj: Any, *, custom: bool = False) -> None:
        self.catalogue, self.obj, self.custom = catalogue, obj, custom

    def _spec(self, key: str):
        return self.catalogue.get(f"cf.{key}" if self.custom else key)

    def __getitem__(self, key: str) -> Any:
        if not self.custom and key == "cf":
            return FieldValues(self.catalogue, self.obj, custom=True)
        if not self.custom and key == "id":
            return self.obj.pk
        spec = self._spec(key)
        if spec is None:
            raise KeyError(key)
        if spec.getter is not None and not spec.is_custom:
            # A built-in field read for display (an owner's or a customer's name, not their id), as
            # the list shows it.
            return spec.present(spec.value_of(self.obj), user=None, obj=self.obj)
        value = self.catalogue.value(spec, self.obj)
        names = self.catalogue.registry.names_for([self.obj], [spec], user=None)
        return spec.present(value, user=None, obj=self.obj, names=names)

    def __iter__(self) -> Iterator[str]:
        if self.custom:
            return iter(self.catalogue.registry.custom)
        return iter([*(s.ref for s in self.catalogue.fields() if not s.is_custom), "cf", "id"])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _roots(object_type: str) -> set[str]:
    roots = {"record", object_type, "rule", "today"}
    if object_type != CustomObject.CUSTOMER:
        roots.add(CustomObject.CUSTOMER)
    return roots


def _known(path: list[str], object_type: str) -> bool:
    """Whether a variable path names something that exists for rules on `object_type`."""
    root, rest = path[0], path[1:]
    if root == "today":
        return not rest
    if root == "rule":
        return rest in (["name"], [])
    catalogue = Catalogue(CustomObject.CUSTOMER if root == CustomObject.CUSTOMER else object_type)
    if not rest:
        return False
    if rest[0] == "id":
        return len(rest) == 1
    if rest[0] == "cf":
        return len(rest) == 2 and rest[1] in catalogue.registry.custom
    return len(rest) == 1 and catalogue.get(rest[0]) is not None and not catalogue.get(rest[0]).is_custom


def variables(object_type: str) -> list[tuple[str, str]]:
    """Every variable a template of a rule on `object_type` may use, as (variable, label): the
    builder's variable picker. Each one passes `check`."""
    from guanxi.customization.models import CustomObject as Objects

    found = [("rule.name", _("Rule name")), ("today", _("Today"))]
    roots = [object_type] + ([Objects.CUSTOMER] if object_type != Objects.CUSTOMER else [])
    for root in roots:
        catalogue, prefix = Catalogue(root), object_label(root)
        found.append((f"{root}.id", f"{prefix} · ID"))
        for spec in catalogue.fields():
            if spec.is_custom:
                found.append((f"{root}.cf.{spec.key}", f"{prefix} · {spec.label}"))
            elif "." not in spec.ref:
                found.append((f"{root}.{spec.ref}", f"{prefix} · {spec.label}"))
    return found


def check(text: Any, object_type: str, *, label: str) -> str:
    """Validate one template; returns it. Raises ValidationError naming `label` and the variable."""
    if not isinstance(text, str):
        raise ValidationError(_("%(part)s: must be text.") % {"part": label})
    if len(text) > MAX_LENGTH:
        raise ValidationError(_("%(part)s: at most %(max)d characters.") % {"part": label, "max": MAX_LENGTH})
    try:
        template = ENGINE.from_string(text)
    except TemplateSyntaxError as exc:
        raise ValidationError(
            _("%(part)s: the template is not valid (%(error)s).") % {"part": label, "error": exc}
        ) from None
    roots = _roots(object_type)
    for node in template.nodelist.get_nodes_by_type(VariableNode):
        var = getattr(node.filter_expression.var, "var", None)
        if not isinstance(var, str):
            continue  # a literal
        path = var.split(".")
        if path[0] not in roots or not _known(path, object_type):
            raise ValidationError(
                _("%(part)s: unknown variable {{ %(name)s }}.") % {"part": label, "name": var}
            )
    return text


def context_for(catalogue: Catalogue, obj: Any, *, rule_name: str) -> dict[str, Any]:
    values = FieldValues(catalogue, obj)
    context: dict[str, Any] = {"record": values, catalogue.object_type: values, "rule": {"name": rule_name},
                               "today": timezone.localdate().isoformat()}  # fmt: skip
    customer = getattr(obj, "customer", None) if catalogue.object_type != CustomObject.CUSTOMER else None
    if customer is not None:
        context[CustomObject.CUSTOMER] = FieldValues(Catalogue(CustomObject.CUSTOMER), customer)
    return context


def render(text: str, context: dict[str, Any]) -> str:
    if not text:
        return ""
    return ENGINE.from_string(text).render(Context(context, autoescape=False)).strip()
