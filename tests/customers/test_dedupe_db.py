"""Batch duplicate detection over the database, and the `guanxi dedupe` command."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command

from guanxi.customers import actions
from guanxi.customers.dedupe import run_batch_dedupe
from guanxi.customers.models import DuplicateCandidate
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
FAKE_1000 = Path(__file__).resolve().parents[1] / "data" / "fake_1000.csv"  # see tests/data/README.md


def _people(org):
    made = {}
    people = [
        ("a1", "王建国", "13911110001", "wjg@example.com", "杭州", "1980-05-01"),
        ("a2", "王建國", "13911110001", "", "杭州", "1980-05-01"),  # traditional form, same phone
        ("a3", "王建国先生", "", "wjg@example.com", "杭州", ""),  # title, same email
        ("b1", "李娜", "13922220002", "lina@example.com", "成都", "1990-01-02"),
        ("b2", "李娜", "13933330003", "li.na@example.org", "广州", "1991-07-08"),  # namesake elsewhere
        ("c1", "赵敏", "13944440004", "zm@example.com", "西安", "1985-03-03"),
    ]
    for key, name, phone, email, city, birthday in people:
        data = {"name": name, "phone": phone, "email": email, "city": city, "birthday": birthday or None,
                "owner_id": org.rep_e1.pk}  # fmt: skip
        made[key] = actions.create_customer(data, actor=None, confirm_duplicate=True)  # deliberate duplicates
    for i in range(40):  # background population so the model has something to learn from
        make_customer(
            org.rep_e2, name=f"客户{i:02d}号", phone=f"1370000{i:04d}", city=["上海", "北京"][i % 2]
        )
    make_customer(org.rep_e1, name="上海恒泰贸易有限公司", kind="company", city="上海")
    make_customer(org.rep_e2, name="上海恒泰贸易公司", kind="company", city="上海")
    return made


def test_batch_detection_queues_true_pairs_and_remembers_decisions(org):
    made = _people(org)
    run = run_batch_dedupe(workers=1)
    pairs = {(c.customer_a_id, c.customer_b_id) for c in DuplicateCandidate.objects.all()}

    def has(x, y):
        return tuple(sorted((made[x].pk, made[y].pk))) in pairs

    assert has("a1", "a2") and has("a1", "a3")
    assert not has("b1", "b2")  # a namesake in another city with other identifiers
    assert run.pairs_found == len(pairs) and run.customers >= 46
    candidate = DuplicateCandidate.objects.get(customer_a=min(made["a1"].pk, made["a2"].pk),
                                               customer_b=max(made["a1"].pk, made["a2"].pk))  # fmt: skip
    assert candidate.score >= 0.5 and candidate.explanation
    companies = DuplicateCandidate.objects.filter(customer_a__kind="company")
    assert companies.count() == 1
    # "Not a duplicate" is remembered: a second run does not reopen the pair.
    actions.decide_duplicate(candidate.pk, "not_duplicate", actor=None)
    run_batch_dedupe(workers=1)
    candidate.refresh_from_db()
    assert candidate.status == "not_duplicate"
    assert (
        DuplicateCandidate.objects.filter(
            customer_a=candidate.customer_a, customer_b=candidate.customer_b
        ).count()
        == 1
    )


def test_dedupe_command_on_a_csv_without_the_database(tmp_path):
    out = tmp_path / "pairs.csv"
    stdout = io.StringIO()
    call_command("dedupe", csv=str(FAKE_1000), out=str(out), stdout=stdout)
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["unique_id_l", "unique_id_r", "score"]
    truth = {}
    for row in csv.DictReader(FAKE_1000.open(encoding="utf-8")):
        truth[row["unique_id"]] = row["cluster"]
    predicted = {(a, b) for a, b, _s in rows[1:]}
    correct = sum(1 for a, b in predicted if truth[a] == truth[b])
    assert correct / len(predicted) >= 0.95  # precision; recall and F1 are checked in test_matching
    assert '"records": 1000' in stdout.getvalue()
