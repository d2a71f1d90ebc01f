"""Synthetic labelled people for the matcher's tests and bench/dedupe_quality.py.

Western and Chinese names, typos, swaps, nicknames, traditional characters, pinyin spellings,
homophone typos, missing fields, several date / phone formats, other e-mail domains, relatives
sharing surname, city, home phone and e-mail domain. The ground truth is the ``cluster`` column.
"""

from __future__ import annotations

import csv
import functools
import random
from pathlib import Path

import opencc
from pypinyin import lazy_pinyin


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


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
    return "".join(lazy_pinyin(text)).capitalize()


@functools.cache
def _s2t():
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
    return write_csv(path, header, body)
