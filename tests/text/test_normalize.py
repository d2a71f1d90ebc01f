"""Tests for guanxi.text, the text normalisation package (pure Python, no Django needed)."""

from __future__ import annotations

import os
import pickle

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

from guanxi import text as nz
from guanxi.text import (
    NormalizationError,
    clean_text,
    company_name_key,
    format_phone_display,
    is_cn_mobile,
    mask_phone,
    normalize_email,
    normalize_phone,
    normalize_wechat_id,
    person_name_key,
    pinyin_full,
    pinyin_initials,
    search_keys,
    strip_person_titles,
    to_simplified,
)

# GX_EXAMPLES=4000 runs a deeper search locally; CI keeps the default.
PROPS = settings(
    max_examples=int(os.environ.get("GX_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Text biased towards the characters these functions care about.
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
INTERESTING = st.sampled_from(
    list("张張伟偉单曾先生总经理公司有限集团厂（）() .,-_@+＋１３８\u3000<>\t\n\x00\u200b\u202eABCabc")
    + [
        "有限公司",
        "股份有限公司",
        "Co.",
        "Ltd",
        "Mr. ",
        "Dr ",
        "先生",
        "老师",
        "(北京)",
        "【上海】",
        "gmail.com",
    ]
)
MIXED_TEXT = st.lists(st.one_of(st.text(max_size=3), CJK, INTERESTING), max_size=12).map("".join)
ANY_TEXT = st.one_of(st.text(), MIXED_TEXT)


def _clean50(text: str) -> str:
    return clean_text(text, max_length=50)


def _email_tagged(text: str) -> str:
    return normalize_email(text, provider_rules=True)


def _succeeds(fn, value):
    try:
        return fn(value)
    except NormalizationError:
        return None


# --------------------------------------------------------------------------- properties


PHONE_LIKE = st.lists(
    st.sampled_from(list("0123456789１３８+＋ -.()\u3000") + ["86", "0086", "138", ".0"]), max_size=16
).map("".join)
EMAIL_LIKE = st.builds(
    "{}{}@{}{}".format,
    st.sampled_from(["", " ", "\u3000"]),
    st.text(alphabet="abcXYZ09._+-ｘ", min_size=1, max_size=10),
    st.sampled_from(["example.com", "GMAIL.com", "googlemail.com", "例子.中国", "b..c", "x"]),
    st.sampled_from(["", " ", "\u3000"]),
)
WECHAT_LIKE = st.text(alphabet="abcXYZ0189_- \t\n.", max_size=70)


@pytest.mark.parametrize(
    "fn, likely",
    [
        (normalize_phone, PHONE_LIKE),
        (normalize_email, EMAIL_LIKE),
        (_email_tagged, EMAIL_LIKE),
        (normalize_wechat_id, WECHAT_LIKE),
        (_clean50, MIXED_TEXT),
        (person_name_key, MIXED_TEXT),
        (company_name_key, MIXED_TEXT),
        (to_simplified, MIXED_TEXT),
        (strip_person_titles, MIXED_TEXT),
    ],
)
@PROPS
@given(data=st.data())
def test_idempotent(fn, likely, data):
    value = data.draw(st.one_of(likely, ANY_TEXT))
    once = _succeeds(fn, value)
    if once is not None:
        assert fn(once) == once


@PROPS
@given(
    local=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789._+-", min_size=1, max_size=20),
    domain=st.sampled_from(["example.com", "GMAIL.com", "googlemail.com", "163.com", "qq.com", "例子.中国"]),
    pad=st.sampled_from(["", " ", "\u3000", "\t"]),
)
def test_email_idempotent_on_plausible_addresses(local, domain, pad):
    for fn in (normalize_email, _email_tagged):
        once = _succeeds(fn, f"{pad}{local}@{domain}{pad}")
        if once is not None:
            assert fn(once) == once
            assert once == once.lower()


@PROPS
@given(name=st.lists(st.one_of(CJK, INTERESTING), min_size=1, max_size=8).map("".join))
def test_key_idempotent_on_cjk_heavy_names(name):
    for fn in (person_name_key, company_name_key):
        key = fn(name)
        assert fn(key) == key


MOBILE_PREFIXES = [f"1{a}{b}" for a in "35789" for b in "0123456789"]


@st.composite
def valid_cn_mobiles(draw) -> str:
    number = draw(st.sampled_from(MOBILE_PREFIXES)) + draw(
        st.text(alphabet="0123456789", min_size=8, max_size=8)
    )
    try:  # some prefixes (e.g. 17951, an IP-dialling code) are stripped by the parser: not a mobile
        assume(phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")))
    except phonenumbers.NumberParseException:
        assume(False)
    return number


def _fullwidth(ch: str) -> str:
    return chr(ord(ch) + 0xFEE0) if ch.isdigit() or ch == "+" else ch


@PROPS
@given(
    mobile=valid_cn_mobiles(),
    prefix=st.sampled_from(["", "+86", "0086", "86", "+86 ", "＋86"]),
    sep=st.sampled_from([" ", "-", "", "."]),
    grouping=st.sampled_from([(3, 4, 4), (3, 8), (11,), (3, 3, 5)]),
    widths=st.lists(st.booleans(), min_size=16, max_size=16),
    pad=st.sampled_from(["", " ", "\u3000", "\t"]),
)
def test_mobile_format_variants_normalize_to_same_e164(mobile, prefix, sep, grouping, widths, pad):
    groups, pos = [], 0
    for size in grouping:
        groups.append(mobile[pos : pos + size])
        pos += size
    raw = prefix + sep.join(groups)
    raw = "".join(_fullwidth(ch) if wide else ch for ch, wide in zip(raw, widths + [False] * len(raw)))
    expected = "+86" + mobile
    assert normalize_phone(pad + raw + pad) == expected
    assert is_cn_mobile(expected)
    assert mask_phone(expected) == mobile[:3] + "****" + mobile[7:]
    assert format_phone_display(expected) == f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"


@pytest.mark.parametrize("fn", [normalize_phone, normalize_email, normalize_wechat_id, _clean50])
@PROPS
@given(value=ANY_TEXT)
def test_arbitrary_text_returns_str_or_normalization_error(fn, value):
    try:
        result = fn(value)
    except NormalizationError as exc:
        assert exc.code and exc.reason
        return
    assert isinstance(result, str)


@PROPS
@given(value=ANY_TEXT)
def test_key_and_display_helpers_never_crash(value):
    assert isinstance(person_name_key(value), str)
    assert isinstance(company_name_key(value), str)
    assert isinstance(mask_phone(value), str)
    assert isinstance(format_phone_display(value), str)
    assert isinstance(is_cn_mobile(value), bool)
    full, initials = search_keys(value)
    assert full == full.lower() and initials == initials.lower()
    assert search_keys(value, person=False) == (
        pinyin_full(value, person=False),
        pinyin_initials(value, person=False),
    )


@PROPS
@given(
    run=st.lists(
        st.sampled_from(sorted(set("中国重庆银行长春乐平单于行长曾经解放朴素都市音乐种子藏宝"))), max_size=6
    ).map("".join)
)
def test_fast_pinyin_path_matches_pypinyin(run):
    # Company keys (person=False) must read exactly like pypinyin's phrase-aware conversion.
    expected = "".join(lazy_pinyin(run, style=Style.NORMAL))
    assert pinyin_full(run, person=False) == expected


@PROPS
@given(value=ANY_TEXT)
def test_clean_text_output_invariants(value):
    result = _succeeds(_clean50, value)
    assume(result is not None)
    assert result == result.strip() and "  " not in result
    assert "<" not in result and ">" not in result
    assert 0 < len(result) <= 50


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13812345678", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("0086-138-1234-5678", "+8613812345678"),
        ("86 138.1234.5678", "+8613812345678"),
        ("(138) 1234-5678", "+8613812345678"),
        ("13812345678.0", "+8613812345678"),
        ("１３８ １２３４ ５６７８", "+8613812345678"),
        ("＋８６１３８１２３４５６７８", "+8613812345678"),
        ("\u3000138-1234-5678\u3000", "+8613812345678"),
        ("010-12345678", "+861012345678"),
        ("(021) 1234 5678", "+862112345678"),
        ("0755-12345678", "+8675512345678"),
        ("+44 7911 123456", "+447911123456"),
        ("+1 650-253-0000", "+16502530000"),
    ],
)
def test_normalize_phone_examples(raw, expected):
    assert normalize_phone(raw) == expected


def test_normalize_phone_accepts_spreadsheet_numbers():
    assert normalize_phone(13812345678) == "+8613812345678"
    assert normalize_phone(13812345678.0) == "+8613812345678"


def test_normalize_phone_other_default_region():
    assert normalize_phone("020 7946 0018", default_region="GB") == "+442079460018"


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("1381234567", "invalid_phone"),  # too short
        ("23812345678", "invalid_phone"),  # wrong prefix
        ("12012345678", "invalid_phone"),
        ("138123456789", "invalid_phone"),  # too long
        ("1-800-FLOWERS", "invalid_phone"),  # letters are not vanity digits here
        ("电话13812345678", "invalid_phone"),
        ("13812345678/13912345678", "invalid_phone"),  # two numbers in one cell
        ("1.38123E+10", "invalid_phone"),  # Excel scientific notation lost digits
        ("+86", "invalid_phone"),
        ("010-12345678 ext 12", "invalid_phone"),  # letters
        ("010-12345678 # 12", "phone_extension"),
        ("13812345678,,12", "phone_extension"),  # pause-dial extension from a phone book export
    ],
)
def test_normalize_phone_rejects(raw, code):
    with pytest.raises(NormalizationError) as info:
        normalize_phone(raw)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)
    assert info.value.reason


def test_is_cn_mobile():
    assert is_cn_mobile("+8613812345678")
    assert not is_cn_mobile("+861012345678")
    assert not is_cn_mobile("+447911123456")
    assert not is_cn_mobile("garbage")


def test_mask_phone():
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_phone("+861012345678") == "010****5678"
    assert mask_phone("+8675512345678") == "0755****5678"
    assert mask_phone("+447911123456") == "+44 79****3456"
    assert mask_phone("not a phone") == "****"


def test_format_phone_display():
    assert format_phone_display("+8613812345678") == "138 1234 5678"
    assert format_phone_display("+861012345678") == "+86 10 1234 5678"
    assert format_phone_display("+447911123456") == "+44 7911 123456"
    assert format_phone_display("not a phone") == "not a phone"


# --------------------------------------------------------------------------- e-mail, WeChat


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Foo.Bar@Example.COM ", "foo.bar@example.com"),
        ("\u3000user@qq.com\u3000", "user@qq.com"),
        ("ｕｓｅｒ＠１６３．ｃｏｍ", "user@163.com"),
        ("Foo.Bar+crm@GMail.com", "foo.bar+crm@gmail.com"),  # no provider rewriting by default
    ],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


def test_normalize_email_provider_rules():
    assert normalize_email("Foo.Bar+crm@GMail.com", provider_rules=True) == "foobar@gmail.com"
    assert normalize_email("f.o.o+x@googlemail.com", provider_rules=True) == "foo@googlemail.com"
    assert normalize_email("foo.bar+crm@163.com", provider_rules=True) == "foo.bar+crm@163.com"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plainaddress",
        "@example.com",
        "a@b",
        "a@@b.com",
        "a b@c.com",
        "a@b..com",
        "a@.com",
        "<a>@b.com",
        "a@b.com.",
    ]
    + ["x" * 250 + "@b.com", "x" * 65 + "@b.com"],
)
def test_normalize_email_rejects(raw):
    with pytest.raises(NormalizationError) as info:
        normalize_email(raw)
    assert info.value.code in {"invalid_email", "empty"}


def test_normalize_email_provider_rules_empty_local():
    with pytest.raises(NormalizationError):
        normalize_email("+tag@gmail.com", provider_rules=True)


def test_normalize_wechat_id():
    openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert normalize_wechat_id(f"  {openid}\n") == openid  # case preserved
    for bad in ["", "abc", "a" * 65, "oUpF8u MuAJO", "oUpF8u.MuAJO", "微信号123456", "abcdef\n\n"[:-1] + "!"]:
        with pytest.raises(NormalizationError) as info:
            normalize_wechat_id(bad)
        assert info.value.code in {"empty", "invalid_wechat_id"}


# --------------------------------------------------------------------------- clean_text


def test_clean_text_examples():
    assert clean_text("  张   伟 \t ", max_length=10) == "张 伟"
    assert clean_text("ＡＢＣ\u3000１２３（北京）", max_length=20) == "ABC 123（北京）"
    assert clean_text("a\u200bb", max_length=5) == "ab"


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "empty"),
        (" \u3000\t", "empty"),
        ("x" * 11, "too_long"),
        ("<b>张伟</b>", "markup"),
        ("a > b", "markup"),
        ("张\x00伟", "control_chars"),
        ("张\x1f伟", "control_chars"),
        ("abc\u202edef", "control_chars"),
    ],
)
def test_clean_text_rejects(raw, code):
    with pytest.raises(NormalizationError) as info:
        clean_text(raw, max_length=10, field="name")
    assert info.value.code == code
    assert info.value.field == "name"


def test_error_is_picklable():
    err = NormalizationError(nz.REASON_TOO_LONG, "too_long", "name")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.reason, copy.code, copy.field, str(copy)) == (err.reason, "too_long", "name", err.reason)


def test_error_reasons_are_constants():
    reasons = set()
    for raw in ["x<y", "<script>"]:
        with pytest.raises(NormalizationError) as info:
            clean_text(raw, max_length=50)
        reasons.add(info.value.reason)
    assert reasons == {nz.REASON_MARKUP}


# --------------------------------------------------------------------------- Chinese names


def test_to_simplified():
    assert to_simplified("張偉") == "张伟"
    assert to_simplified("台灣") == "台湾"
    assert to_simplified("") == ""
    assert to_simplified("薴") == to_simplified(to_simplified("薴"))  # OpenCC chain 薴 -> 苧 -> 苎


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("张先生", "张"),
        ("王总经理", "王"),
        ("王总", "王"),
        ("刘董事长", "刘"),
        ("李老师", "李"),
        ("赵阿姨", "赵"),
        ("老师", "老师"),  # nothing Chinese would remain
        ("Tony总", "Tony总"),
        ("Mr. Smith", "Smith"),
        ("Dr Zhang", "Zhang"),
        ("mrs. Li", "Li"),
        ("Mr. Dr. Li", "Li"),
        ("Mrinal", "Mrinal"),
        ("小王", "小王"),
    ],
)
def test_strip_person_titles(raw, expected):
    assert strip_person_titles(raw) == expected


def test_person_name_key():
    assert person_name_key("張偉先生") == "张伟"
    assert person_name_key("张伟") == person_name_key("張偉") == "张伟"
    assert person_name_key("  Zhang  Wei ") == "zhangwei"
    assert person_name_key("Mr. Zhang Wei") == "zhangwei"
    assert person_name_key("阿卜杜拉·买买提") == "阿卜杜拉买买提"
    assert person_name_key("!!!") == ""


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("北京字节跳动科技有限公司", "北京字节跳动科技"),
        ("ABC Co., Ltd.", "abc"),
        ("ABC CO LTD", "abc"),
        ("Apple Inc.", "apple"),
        ("华为技术（深圳）有限公司", "华为技术"),
        ("华为技术(深圳)有限公司", "华为技术"),
        ("海爾集團股份有限公司", "海尔"),
        ("阿里巴巴集团有限公司", "阿里巴巴"),
        ("小米科技有限责任公司北京分公司", "小米科技有限责任公司北京"),
        ("老王工作室", "老王"),
        ("红星机床厂", "红星机床"),
        ("Costco Wholesale Corporation", "costcowholesale"),
        ("Cisco", "cisco"),  # "co" is only a suffix as a separate word
        ("(北京)", "北京"),
        ("公司", "公司"),
    ],
)
def test_company_name_key(raw, expected):
    assert company_name_key(raw) == expected


# --------------------------------------------------------------------------- pinyin


@pytest.mark.parametrize(
    "name, full, initials",
    [
        ("张伟", "zhangwei", "zw"),
        ("張偉", "zhangwei", "zw"),
        ("单伟", "shanwei", "sw"),
        ("曾国藩", "zengguofan", "zgf"),
        ("解放", "xiefang", "xf"),
        ("仇英", "qiuying", "qy"),
        ("区家明", "oujiaming", "ojm"),
        ("朴正", "piaozheng", "pz"),
        ("覃雪", "qinxue", "qx"),
        ("翟天", "zhaitian", "zt"),
        ("欧阳娜娜", "ouyangnana", "oynn"),
        ("尉迟恭", "yuchigong", "ycg"),
        ("长孙无忌", "zhangsunwuji", "zswj"),
        ("万俟卨", "moqixie", "mqx"),
        ("吕布", "lvbu", "lb"),
        ("Tony 王", "tonywang", "tonyw"),
        ("  Zhang  Wei ", "zhangwei", "zhangwei"),
        ("ＡＢＣ科技", "abckeji", "abckj"),
    ],
)
def test_person_pinyin(name, full, initials):
    assert pinyin_full(name) == full
    assert pinyin_initials(name) == initials
    assert search_keys(name) == (full, initials)


def test_surname_reading_only_for_people_and_first_position():
    assert pinyin_full("单位", person=False) == "danwei"
    assert pinyin_full("曾经", person=False) == "cengjing"
    assert pinyin_full("张单") == "zhangdan"
    assert pinyin_full("重庆银行", person=False) == "chongqingyinhang"
    assert pinyin_initials("北京字节跳动", person=False) == "bjzjtd"


def test_traditional_and_simplified_share_keys():
    assert search_keys("張偉") == search_keys("张伟")
    assert search_keys("單偉") == search_keys("单伟") == ("shanwei", "sw")


def test_names_are_simplified_character_by_character():
    # OpenCC's phrase table reads 沈思 as the traditional word 沉思; in a name it is the surname 沈.
    assert to_simplified("沈思英") == "沈思英"
    assert search_keys("沈思英") == ("shensiying", "ssy")
    assert to_simplified("乾隆") == "乾隆"
    assert to_simplified("張偉") == "张伟"
    assert to_simplified("北京字節跳動") == "北京字节跳动"
