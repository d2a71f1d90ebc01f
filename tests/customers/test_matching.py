"""Tests for guanxi.customers.matching (pure Python, runs without Django settings).

Run with: .venv/bin/pytest tests/customers/test_matching.py -p no:django -q
"""

from __future__ import annotations

import csv
import functools
import random
from collections import defaultdict
from pathlib import Path

import pytest

from guanxi.customers.matching import Matcher, PersonRecord, dedupe_csv, read_people_csv

FAKE_1000 = Path(__file__).resolve().parents[1] / "data" / "fake_1000.csv"  # see tests/data/README.md

# Measured on make_synthetic_people(n_people=300) with seeds 1..10: F1 between 0.984 and 0.999
# (0.988 for the seed used below); the floor leaves room for small changes in the normalisers.
SYNTHETIC_F1_FLOOR = 0.97


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _read_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _pairs(path: Path) -> set[tuple[str, str]]:
    return {(row[0], row[1]) for row in _read_rows(path)[1:]}


def _truth_pairs(path: Path) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            groups[row["cluster"]].append(row["unique_id"])
    out = set()
    for members in groups.values():
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                x, y = members[a], members[b]
                out.add((x, y) if x < y else (y, x))
    return out


def _f1(predicted: set[tuple[str, str]], actual: set[tuple[str, str]]) -> tuple[float, float, float]:
    tp = len(predicted & actual)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(actual) if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return precision, recall, f1


def _rewrite(src: Path, dst: Path, transform) -> Path:
    """Copy a CSV, passing (header, rows) through ``transform``."""
    with open(src, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = transform(rows[0], rows[1:])
    return _write_csv(dst, header, body)


# --------------------------------------------------------------------------------------------------
# Synthetic labelled people: Western and Chinese names, typos, swaps, nicknames, traditional
# characters, pinyin spellings, homophone typos, missing fields, several date / phone formats,
# other e-mail domains, relatives sharing surname, city, home phone and e-mail domain.
# --------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


WESTERN_FIRST = _words(
    "James John Robert Michael William David Richard Joseph Thomas Charles Daniel Matthew Anthony Mark "
    "Steven Paul Andrew Joshua Kevin Brian George Edward Ronald Timothy Jason Jeffrey Ryan Jacob Gary "
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Betty Margaret "
    "Sandra Ashley Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Rebecca Laura Sharon "
    "Olivia Sophie Chloe Lucas Noah Oliver Amelia Isla Harry Jack"
)
WESTERN_SURNAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Wilson "
    "Anderson Taylor Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker "
    "Young Allen King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter "
    "Phillips Evans Turner Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan Cooper "
    "Peterson Reed Bailey Kelly Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray Hughes Price"
)
NICKNAMES = {
    "Robert": "Rob",
    "William": "Will",
    "Michael": "Mike",
    "Thomas": "Tom",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Anthony": "Tony",
    "Joshua": "Josh",
    "Jennifer": "Jen",
    "Elizabeth": "Liz",
    "Jessica": "Jess",
    "Rebecca": "Becky",
    "Andrew": "Andy",
    "Timothy": "Tim",
}
CN_SURNAMES = _words(
    "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 欧阳 司马"
)
CN_GIVEN_CHARS = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏飞燕文辉建国志宏梅龙云晨浩宇婷雪琳欣怡佳俊凯"
)
# characters a typist may pick by mistake with a pinyin input method
HOMOPHONES = dict(zip("伟芳静丽军明华玉红飞文建志宇婷杰", "玮方晶莉君鸣骅钰虹菲雯健智雨亭洁", strict=True))
CN_CITIES = [
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "成都",
    "重庆",
    "武汉",
    "西安",
    "苏州",
    "天津",
    "台北",
]
WESTERN_CITIES = _words(
    "London Manchester Birmingham Leeds Glasgow Liverpool Bristol Sheffield Edinburgh Cardiff Belfast "
    "Leicester Nottingham Newcastle Brighton Oxford"
)
COMPANIES_CN = {
    "北京字节跳动科技有限公司": "bytedance.com",
    "上海浦东发展银行股份有限公司": "spdb.com.cn",
    "深圳市腾讯计算机系统有限公司": "tencent.com",
    "杭州阿里巴巴网络技术有限公司": "alibaba-inc.com",
    "广州小鹏汽车科技有限公司": "xiaopeng.com",
    "成都天府软件有限公司": "tianfusoft.cn",
}
COMPANIES_EN = {
    "Acme Ltd": "acme.co.uk",
    "Globex Corporation": "globex.com",
    "Initech Inc": "initech.com",
    "Umbrella Group": "umbrella.com",
    "Hooli LLC": "hooli.com",
    "Vandelay Industries": "vandelay.com",
}
FREE_MAIL = ["gmail.com", "qq.com", "163.com", "outlook.com", "126.com", "hotmail.com", "yahoo.com"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 3:
        return text
    k = rng.randrange(1, len(text) - 1)
    op = rng.random()
    if op < 0.3:
        return text[:k] + rng.choice(LETTERS) + text[k + 1 :]
    if op < 0.55:
        return text[:k] + text[k + 1 :]
    if op < 0.8:
        return text[: k - 1] + text[k] + text[k - 1] + text[k + 1 :]
    return text[:k] + text[k] + text[k:]


@functools.lru_cache(maxsize=10_000)
def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text)).capitalize()


@functools.cache
def _s2t():
    import opencc

    return opencc.OpenCC("s2t")


@functools.lru_cache(maxsize=10_000)
def _traditional(text: str) -> str:
    return _s2t().convert(text)


def _make_person(rng: random.Random, pid: int, used: set[str], family: dict | None = None) -> dict:
    chinese = rng.random() < 0.5 if family is None else family["chinese"]
    if chinese:
        surname = family["surname"] if family else rng.choice(CN_SURNAMES)
        given = "".join(rng.choice(CN_GIVEN_CHARS) for _ in range(rng.choice((1, 2, 2))))
        city = family["city"] if family else rng.choice(CN_CITIES)
        company = rng.choice(list(COMPANIES_CN))
        work_domain = COMPANIES_CN[company]
        mobile = "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))
        local = (_pinyin(given) + _pinyin(surname)).lower() + str(rng.randrange(10, 999))
    else:
        surname = family["surname"] if family else rng.choice(WESTERN_SURNAMES)
        given = rng.choice(WESTERN_FIRST)
        city = family["city"] if family else rng.choice(WESTERN_CITIES)
        company = rng.choice(list(COMPANIES_EN))
        work_domain = COMPANIES_EN[company]
        mobile = "+44 7" + "".join(rng.choice("0123456789") for _ in range(9))
        styles = [f"{given}.{surname}", f"{given[0]}{surname}", f"{given}{rng.randrange(1, 99)}"]
        local = rng.choice(styles).lower()
    year = rng.randrange(1950, 2005)
    if family:
        year = family["year"] + rng.choice((-30, -28, -3, -2, 2, 3, 25, 30))
    domain = rng.choice(FREE_MAIL) if rng.random() < 0.7 else work_domain
    if family and rng.random() < 0.5:
        domain = family["domain"]
    email = f"{local}@{domain}"
    while email in used:  # an address belongs to one person
        email = f"{local}{rng.randrange(1, 9999)}@{domain}"
    used.add(email)
    return {
        "pid": pid,
        "chinese": chinese,
        "surname": surname,
        "given": given,
        "dob": (year, rng.randrange(1, 13), rng.randrange(1, 29)),
        "city": city,
        "company": company,
        "phone": mobile,
        "email": email,
        "domain": domain,
        "landline": family["landline"] if family else None,
    }


def _render(rng: random.Random, person: dict, first: bool) -> dict[str, str]:
    """One record of a person; the first record of each person is the least damaged one."""
    noisy = 0.0 if first else 1.0
    fields = ("first_name", "surname", "full_name", "dob", "city", "email", "phone", "company")
    row = dict.fromkeys(fields, "")
    given, surname = person["given"], person["surname"]
    if person["chinese"]:
        if rng.random() < 0.3 * noisy and given[-1] in HOMOPHONES:
            given = given[:-1] + HOMOPHONES[given[-1]]
        full = surname + given
        style = rng.random()
        if style < 0.35:
            row["full_name"] = full
        elif style < 0.55:
            row["full_name"] = _traditional(full)
        elif style < 0.8:
            row["first_name"], row["surname"] = given, surname
        elif style < 0.9:
            row["first_name"], row["surname"] = _pinyin(given), _pinyin(surname)
        else:
            row["full_name"] = f"{_pinyin(surname)} {_pinyin(given)}"
    else:
        if rng.random() < 0.15 * noisy and given in NICKNAMES:
            given = NICKNAMES[given]
        if rng.random() < 0.2 * noisy:
            given = _typo(rng, given)
        if rng.random() < 0.2 * noisy:
            surname = _typo(rng, surname)
        if rng.random() < 0.1 * noisy:
            given, surname = surname, given
        if rng.random() < 0.2:
            row["full_name"] = f"{given} {surname}"
        else:
            row["first_name"], row["surname"] = given, surname
        if rng.random() < 0.1 * noisy:
            row["first_name"] = ""
        if rng.random() < 0.1 * noisy:
            row["surname"] = ""
    y, m, d = person["dob"]
    r = rng.random()
    if r >= 0.15 * noisy:
        if r < 0.25 * noisy:
            change = rng.random()
            if change < 0.4:
                d = min(28, max(1, d + rng.choice((-1, 1))))
            elif change < 0.6 and d <= 12:
                m, d = d, m
            elif change < 0.8:
                y += rng.choice((-1, 1, -10, 10))
            else:
                m = min(12, max(1, m + rng.choice((-1, 1))))
        fmt = rng.random()
        if fmt < 0.6:
            row["dob"] = f"{y:04d}-{m:02d}-{d:02d}"
        elif fmt < 0.8:
            row["dob"] = f"{y:04d}/{m}/{d}"
        elif fmt < 0.9 and person["chinese"]:
            row["dob"] = f"{y}年{m}月{d}日"
        else:
            row["dob"] = f"{d:02d}/{m:02d}/{y:04d}"
    if rng.random() < 0.5:
        city = person["city"]
        if person["chinese"] and rng.random() < 0.3:
            city = city + "市" if rng.random() < 0.5 else _traditional(city)
        elif not person["chinese"] and rng.random() < 0.15 * noisy:
            city = _typo(rng, city)
        row["city"] = city
    if rng.random() < 0.5:
        email = person["email"]
        if rng.random() < 0.15 * noisy:
            email = f"{email.split('@')[0]}@{rng.choice(FREE_MAIL)}"
        elif rng.random() < 0.1 * noisy:
            email = _typo(rng, email)
        if rng.random() < 0.2:
            email = email.upper() if rng.random() < 0.3 else email.capitalize()
        row["email"] = email
    r = rng.random()
    if r < 0.4:
        phone = person["phone"]
        if person["chinese"]:
            fmt = rng.random()
            if fmt < 0.3:
                phone = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
            elif fmt < 0.6:
                phone = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
        elif rng.random() < 0.5:
            phone = "0" + phone[4:]
        row["phone"] = phone
    elif r < 0.5 and person["landline"]:
        row["phone"] = person["landline"]
    if rng.random() < 0.35:
        company = person["company"]
        if rng.random() < 0.3:
            company = company.replace("有限公司", "").replace(" Ltd", " Limited")
        row["company"] = company
    return row


def make_synthetic_people(path: Path, n_people: int = 300, seed: int = 7) -> Path:
    """Write a labelled CSV (ground truth in ``cluster``) of ``n_people`` people in 1..6 records each."""
    rng = random.Random(seed)
    people: list[dict] = []
    used: set[str] = set()
    while len(people) < n_people:
        person = _make_person(rng, len(people), used)
        people.append(person)
        if rng.random() < 0.15 and len(people) < n_people:  # a relative
            landline = "010-" + "".join(rng.choice("0123456789") for _ in range(8))
            person["landline"] = landline
            family = {
                "chinese": person["chinese"],
                "surname": person["surname"],
                "city": person["city"],
                "year": person["dob"][0],
                "domain": person["domain"],
                "landline": landline,
            }
            people.append(_make_person(rng, len(people), used, family))
    rows = []
    for person in people:
        count = rng.choices((1, 2, 3, 4, 5, 6), weights=(30, 25, 18, 12, 9, 6))[0]
        for k in range(count):
            row = _render(rng, person, first=k == 0)
            row["cluster"] = str(person["pid"])
            row["notes"] = rng.choice(("", "VIP", "met at fair", "call back"))
            rows.append(row)
    rng.shuffle(rows)
    header = ["unique_id", "first_name", "surname", "full_name", "dob", "city", "email", "phone"]
    header += ["company", "notes", "cluster"]
    body = [[f"S{uid:05d}"] + [row[h] for h in header[1:]] for uid, row in enumerate(rows)]
    return _write_csv(path, header, body)


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return make_synthetic_people(tmp_path_factory.mktemp("synthetic") / "people.csv", 300, seed=7)


@pytest.fixture(scope="module")
def synthetic_result(synthetic, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthetic_out") / "pairs.csv"
    stats = dedupe_csv(str(synthetic), str(out))
    return out, stats


SMALL_HEADER = ["unique_id", "first_name", "surname", "dob", "city", "email", "phone"]
SMALL_ROWS = [
    ["a1", "Robert", "Allen", "1971-06-24", "London", "robert.allen@example.com", "13812345678"],
    ["a2", "Rob", "Allen", "1971-06-24", "", "robert.allen@example.com", "+86 138-1234-5678"],
    ["a3", "Robert", "Alen", "24/06/1971", "Lodnon", "", ""],
    ["b1", "Grace", "Kelly", "1991-04-26", "Hull", "grace.kelly52@jones.com", ""],
    ["b2", "Kelly", "Grace", "1991-04-26", "", "grace.kelly52@jones.com", ""],
    ["c1", "Oliver", "Griffiths", "1985-10-26", "Leeds", "o.griffiths90@reyes.com", "13900001111"],
    ["d1", "Mia", "Wong", "2001-01-05", "Bristol", "mia@wong.org", "13700002222"],
]


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


def test_output_format_and_header(tmp_path):
    src = _write_csv(tmp_path / "in.csv", SMALL_HEADER, SMALL_ROWS)
    out = tmp_path / "out.csv"
    stats = dedupe_csv(str(src), str(out))
    rows = _read_rows(out)
    assert rows[0] == ["unique_id_l", "unique_id_r", "score"]
    assert rows[1:], "the obvious duplicates must be found"
    for left, right, score in rows[1:]:
        assert left < right
        assert len(score.split(".")[1]) == 4
        assert 0.0 <= float(score) <= 1.0
    assert _pairs(out) == {("a1", "a2"), ("a1", "a3"), ("a2", "a3"), ("b1", "b2")}
    assert stats["records"] == 7
    assert stats["predicted_pairs"] == 4
    for key in ("candidate_pairs", "clusters", "seconds", "parameters"):
        assert key in stats
    # learned m/u per comparison level
    assert {"m", "u"} <= set(stats["parameters"]["dob"]["exact"])


def test_cluster_column_is_never_read(tmp_path):
    header = SMALL_HEADER + ["cluster"]
    rows = [row + [str(i % 2)] for i, row in enumerate(SMALL_ROWS)]
    a = _write_csv(tmp_path / "a.csv", header, rows)
    b = _write_csv(tmp_path / "b.csv", header, [row[:-1] + ["same"] for row in rows])
    c = _write_csv(tmp_path / "c.csv", SMALL_HEADER, SMALL_ROWS)
    outs = []
    for src in (a, b, c):
        out = tmp_path / f"{src.stem}.out.csv"
        dedupe_csv(str(src), str(out))
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_cluster_column_ignored_on_fake_1000(tmp_path):
    rng = random.Random(3)

    def shuffle_truth(header, rows):
        labels = [row[-1] for row in rows]
        rng.shuffle(labels)
        return header, [row[:-1] + [label] for row, label in zip(rows, labels, strict=True)]

    def drop_truth(header, rows):
        return header[:-1], [row[:-1] for row in rows]

    outputs = []
    for name, transform in (("same", lambda h, r: (h, r)), ("shuffled", shuffle_truth), ("none", drop_truth)):
        src = _rewrite(FAKE_1000, tmp_path / f"{name}.csv", transform)
        out = tmp_path / f"{name}.out.csv"
        dedupe_csv(str(src), str(out))
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_unknown_columns_are_ignored(tmp_path):
    plain = _write_csv(tmp_path / "plain.csv", SMALL_HEADER, SMALL_ROWS)
    header = ["Notes", *[h.upper() for h in SMALL_HEADER], "last_name", "id_photo", "cluster"]
    rows = [
        [f"note {i}", *row, "Zzyzx", random.Random(i).choice("xyz") * 5, "1"]
        for i, row in enumerate(SMALL_ROWS)
    ]
    noisy = _write_csv(tmp_path / "noisy.csv", header, rows)
    out_a, out_b = tmp_path / "a.out", tmp_path / "b.out"
    dedupe_csv(str(plain), str(out_a))
    dedupe_csv(str(noisy), str(out_b))
    assert out_a.read_bytes() == out_b.read_bytes()


def test_missing_columns_are_fine(tmp_path):
    # only unique_id + full_name + phone
    rows = [
        ["1", "张伟", "13812345678"],
        ["2", "張偉", "+86 138 1234 5678"],
        ["3", "李娜", "13900000000"],
        ["4", "Zhang Wei", "138-1234-5678"],
        ["5", "王芳", ""],
    ]
    src = _write_csv(tmp_path / "in.csv", ["unique_id", "full_name", "phone"], rows)
    out = tmp_path / "out.csv"
    dedupe_csv(str(src), str(out))
    assert _pairs(out) == {("1", "2"), ("1", "4"), ("2", "4")}

    # only the id column: nothing to compare, but a valid (empty) output
    src = _write_csv(tmp_path / "ids.csv", ["unique_id"], [["1"], ["2"]])
    dedupe_csv(str(src), str(out))
    assert _read_rows(out) == [["unique_id_l", "unique_id_r", "score"]]


def test_unique_id_is_required(tmp_path):
    src = _write_csv(tmp_path / "in.csv", ["id", "first_name"], [["1", "A"]])
    with pytest.raises(ValueError, match="unique_id"):
        dedupe_csv(str(src), str(tmp_path / "out.csv"))


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
def test_encodings(tmp_path, encoding):
    header = ["unique_id", "surname", "first_name", "dob", "city", "phone"]
    rows = [
        ["1", "张", "伟", "1990-01-02", "北京", "13812345678"],
        ["2", "張", "偉", "1990年1月2日", "北京市", "138 1234 5678"],
        ["3", "欧阳", "娜娜", "1985-07-08", "上海", "13999998888"],
        ["4", "李", "静", "1979-03-04", "广州", ""],
    ]
    utf8 = _write_csv(tmp_path / "utf8.csv", header, rows)
    other = _write_csv(tmp_path / f"{encoding}.csv", header, rows, encoding=encoding)
    out_a, out_b = tmp_path / "a.out", tmp_path / "b.out"
    dedupe_csv(str(utf8), str(out_a))
    dedupe_csv(str(other), str(out_b))
    assert out_a.read_bytes() == out_b.read_bytes()
    assert _pairs(out_b) == {("1", "2")}
    assert [r.surname for r in read_people_csv(str(other))] == ["张", "張", "欧阳", "李"]


def test_matcher_api_explains_and_clusters():
    records = [PersonRecord(**dict(zip(SMALL_HEADER, row, strict=True))) for row in SMALL_ROWS]
    matcher = Matcher().fit(records)
    pairs = matcher.predict_pairs(records, threshold=0.5)
    found = {(records[i].unique_id, records[j].unique_id) for i, j, _, _ in pairs}
    assert ("b1", "b2") in found  # first name and surname swapped
    for _i, _j, prob, explanation in pairs:
        assert 0.5 <= prob <= 1.0
        assert {"first_name", "surname", "dob", "email"} <= set(explanation)
        for detail in explanation.values():
            assert set(detail) == {"level", "weight"}
    i, j, _, explanation = next(p for p in pairs if {p[0], p[1]} == {3, 4})
    assert explanation["email"]["level"] == "exact"
    assert explanation["email"]["weight"] > 0
    clusters = matcher.clusters(pairs, ids=[r.unique_id for r in records])
    assert sorted(clusters) == [["a1", "a2", "a3"], ["b1", "b2"]]


def test_private_fallbacks_without_normalize_module(tmp_path, monkeypatch):
    from guanxi.customers import matching

    monkeypatch.setattr(matching, "_normalize_module", lambda: None)
    matching._name_keys.cache_clear()
    try:
        src = _write_csv(tmp_path / "in.csv", SMALL_HEADER, SMALL_ROWS)
        out = tmp_path / "out.csv"
        dedupe_csv(str(src), str(out))
        assert _pairs(out) == {("a1", "a2"), ("a1", "a3"), ("a2", "a3"), ("b1", "b2")}
    finally:
        matching._name_keys.cache_clear()


def test_f1_on_fake_1000(tmp_path):
    out = tmp_path / "out.csv"
    stats = dedupe_csv(str(FAKE_1000), str(out))
    precision, recall, f1 = _f1(_pairs(out), _truth_pairs(FAKE_1000))
    assert stats["records"] == 1000
    assert f1 >= 0.95, (precision, recall, f1)


def test_f1_on_synthetic_people(synthetic, synthetic_result):
    out, stats = synthetic_result
    precision, recall, f1 = _f1(_pairs(out), _truth_pairs(synthetic))
    assert f1 >= SYNTHETIC_F1_FLOOR, (precision, recall, f1)
    assert precision >= 0.95, (precision, recall, f1)


def test_pairs_are_transitive_within_entities(synthetic_result):
    out, _ = synthetic_result
    pairs = _pairs(out)
    neighbours: dict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        neighbours[a].add(b)
        neighbours[b].add(a)
    for a, others in neighbours.items():
        for b in others:
            assert neighbours[b] - {a} == others - {b}
