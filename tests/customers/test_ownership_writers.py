"""One writer per fact: nothing in guanxi/ writes a customer's owner, owned_since or pool except
customers/ownership.py (issue 9, acceptance 2). The scan reads the source (AST), so a new writer
anywhere fails this test before it can skip the pool rules, the history, the audit or the event."""

from __future__ import annotations

import ast
from pathlib import Path

import guanxi

ROOT = Path(guanxi.__file__).parent
OWNERSHIP_FIELDS = {"owner", "owner_id", "owned_since", "pool", "pool_id"}
CUSTOMER_ONLY = {"owned_since", "pool", "pool_id"}  # no other model has these fields
ALLOWED = {
    # The one writer.
    "customers/ownership.py",
    # The demo company generator bulk-loads a million generated customers with COPY/executemany:
    # they are nobody's change (no audit, no events), see docs/architecture.md "Demo data".
    "demo.py",
}


def _customerish(source: str) -> bool:
    text = source.lower()
    return "customer" in text or "cust" in text


def _writes(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    found = []

    def where(node: ast.AST, what: str) -> None:
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        # customer.owner = ... / c.owned_since = ... / x.pool = ...
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(item, ast.Attribute) and item.attr in OWNERSHIP_FIELDS:
                        owner_text = ast.get_source_segment(source, item.value) or ""
                        if item.attr in CUSTOMER_ONLY or _customerish(owner_text):
                            where(node, f"assigns .{item.attr}")
        if not isinstance(node, ast.Call):
            continue
        func = ast.get_source_segment(source, node.func) or ""
        keywords = {k.arg for k in node.keywords if k.arg}
        # qs.update(owner=...), Customer(owner=...), Customer.objects.create(owner=...)
        hit = keywords & OWNERSHIP_FIELDS
        if (
            hit
            and (
                func.endswith((".update", ".create", ".get_or_create", ".update_or_create"))
                or func == "Customer"
            )
            and (hit & CUSTOMER_ONLY or _customerish(func) or func == "Customer")
        ):
            where(node, f"{func}({', '.join(sorted(hit))}=...)")
        # customer.save(update_fields=["owner", ...])
        if func.endswith(".save") and _customerish(func):
            for k in node.keywords:
                if k.arg == "update_fields" and isinstance(k.value, ast.List | ast.Tuple):
                    names = {e.value for e in k.value.elts if isinstance(e, ast.Constant)}
                    if names & OWNERSHIP_FIELDS:
                        where(node, f"save(update_fields={sorted(names & OWNERSHIP_FIELDS)})")
    # Raw SQL that sets them: UPDATE ... SET owner_id / owned_since / pool_id
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = " ".join(node.value.split()).lower()
        sets = any(f"set {f} " in text or f", {f} =" in text for f in OWNERSHIP_FIELDS)
        if "update" in text and sets and ("customer" in text or "owned_since" in text):
            where(node, "raw SQL sets an ownership column")
    return found


def test_only_change_owner_writes_a_customers_owner_owned_since_or_pool():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" in f"/{relative}" or relative in ALLOWED:
            continue
        found += _writes(path)
    assert found == [], "ownership written outside customers.ownership.change_owner:\n" + "\n".join(found)


def test_the_scan_finds_the_writes_it_is_meant_to_find(tmp_path):
    """The scan itself can fail: each of these shapes (as the code had them before issue 9) is found."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "customer.owner, customer.owned_since = rep, now\n"
        'customer.save(update_fields=["owner", "owned_since", "updated_at"])\n'
        "Customer.objects.filter(pk=1).update(owner=None, owned_since=None, pool=pool)\n"
        "due.update(owner=None, owned_since=None, pool=pool, updated_at=now)\n"
        "Customer(name='x', owner=rep)\n"
        's = "UPDATE {customers} AS c SET owner_id = NULL, owned_since = NULL"\n'
        "Task.objects.filter(pk=1).update(owner=rep)\n"  # a task's owner: not a customer's
        "deal.owner_id = 3\n",  # a deal's owner: not a customer's
        encoding="utf-8",
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = _writes(sample)
    finally:
        ROOT = saved
    assert sorted({int(line.split(":")[1]) for line in found}) == [1, 2, 3, 4, 5, 6], found
