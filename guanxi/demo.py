"""Demo data: a Chinese SME's organisation and any number of realistic customers, contact points and orders.

`load_demo(1_000_000)` is a bulk loader, not a sequence of actions: the organisation (roles,
departments, users) goes through the audited actions in `guanxi.core.actions`, but customers,
contact points, tags and orders are generated in chunks and written with PostgreSQL `COPY` (psycopg 3)
or SQLite `executemany`, with ids allocated here. No audit entries or domain events are written for
the bulk rows (like an import restored from a backup). Stored derived values are kept true:
name search keys come from `normalize.search_keys`, phones are E.164 + display form, and the
completeness score uses the weights of `guanxi.customers.quality`.

Generation runs in this thread while a writer thread sends the previous chunk to the database
(psycopg and sqlite3 release the GIL while the server / SQLite works), so on two cores generating
and writing overlap. Each chunk is its own transaction and moves the id sequences past the rows it
wrote. The loader expects to be the only writer of customers, contact points and orders while it
runs (like any bulk load); inside an outer transaction (tests) everything is written synchronously
in that transaction instead.

Data is reproducible for a given seed on an empty database (except the user password when not given).
"""

from __future__ import annotations

import base64
import contextlib
import enum
import math
import queue
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Max

from guanxi import text as normalize
from guanxi.core.actions import create_department, create_user, ensure_default_roles
from guanxi.core.models import Department, User
from guanxi.customers.models import (
    Channel,
    ContactKind,
    ContactPoint,
    Customer,
    CustomerKind,
    Gender,
    LifecycleStage,
    Tier,
)
from guanxi.customers.quality import COMPANY_WEIGHTS, PERSON_WEIGHTS
from guanxi.customization.models import Tag
from guanxi.sales.demo import load_demo_deals
from guanxi.sales.models import Order, OrderStatus

__all__ = ["DEMO_USERS", "DEPARTMENTS", "DemoUser", "ensure_demo_org", "load_demo"]

ProgressFn = Callable[[str, int, int], None]

DEFAULT_CHUNK_SIZE = 25_000
DAY = 86_400
HISTORY_DAYS = 730  # customers and orders spread over the last two years
CHINA_OFFSET = 8 * 3600  # business hours are generated in China time, stored in UTC

# --------------------------------------------------------------------------- organisation

# (name, parent name)
DEPARTMENTS: list[tuple[str, str | None]] = [
    ("总经办", None),
    ("销售部", None),
    ("华东销售组", "销售部"),
    ("华南销售组", "销售部"),
    ("华北销售组", "销售部"),
    ("客服部", None),
    ("市场部", None),
]


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    department: str
    manager: str | None = None


# Managers come before their reports (creation order).
DEMO_USERS: list[DemoUser] = [
    DemoUser("zhao.jianguo", "赵建国", "sales_director", "销售部"),
    DemoUser("wang.fang", "王芳", "sales_manager", "华东销售组", "zhao.jianguo"),
    DemoUser("chen.jie", "陈杰", "sales_manager", "华南销售组", "zhao.jianguo"),
    DemoUser("liu.yang", "刘洋", "sales_manager", "华北销售组", "zhao.jianguo"),
    DemoUser("li.na", "李娜", "sales_rep", "华东销售组", "wang.fang"),
    DemoUser("zhang.wei", "张伟", "sales_rep", "华东销售组", "wang.fang"),
    DemoUser("sun.li", "孙丽", "sales_rep", "华东销售组", "wang.fang"),
    DemoUser("huang.min", "黄敏", "sales_rep", "华南销售组", "chen.jie"),
    DemoUser("zhou.lei", "周磊", "sales_rep", "华南销售组", "chen.jie"),
    DemoUser("wu.jing", "吴静", "sales_rep", "华北销售组", "liu.yang"),
    DemoUser("xu.qiang", "徐强", "sales_rep", "华北销售组", "liu.yang"),
    DemoUser("ma.xiaoyu", "马晓宇", "service_agent", "客服部"),
    DemoUser("hu.yue", "胡悦", "service_agent", "客服部"),
    DemoUser("guo.ting", "郭婷", "marketing", "市场部"),
    DemoUser("lin.hui", "林慧", "data_steward", "总经办"),
]
_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes
SALES_REGION = {"华东销售组": "E", "华南销售组": "S", "华北销售组": "N"}


def _words(text: str) -> list[str]:
    return text.split()


# (name, colour)
DEMO_TAGS: list[tuple[str, str]] = [
    ("VIP", "danger"),
    ("老客户", "success"),
    ("展会", "info"),
    ("渠道", "warning"),
    ("高意向", "primary"),
    ("价格敏感", "secondary"),
]


def ensure_demo_org(password: str | None = None) -> tuple[dict[str, User], str | None]:
    """Create (or find) the demo roles, departments and users through the audited actions.

    Idempotent: departments are matched by name and parent, users by username; only what is
    missing is created. Returns ({username: user}, password of the users created now or None).
    All new users get the same password (`password`, else a random one); it is hashed once.
    """
    with transaction.atomic():
        roles = ensure_default_roles()
        departments: dict[str, Department] = {}
        for name, parent_name in DEPARTMENTS:
            parent = departments[parent_name] if parent_name else None
            dept = Department.objects.filter(name=name, parent=parent).order_by("id").first()
            departments[name] = dept or create_department(name, parent=parent, actor=None)
        users = {u.username: u for u in User.objects.filter(username__in=[d.username for d in DEMO_USERS])}
        if all(d.username in users for d in DEMO_USERS):
            return users, None
        password = password or "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(12))
        hashed = make_password(password)
        for spec in DEMO_USERS:
            if spec.username in users:
                continue
            user = create_user(
                spec.username,
                password=None,
                actor=None,
                role=roles[spec.role],
                department=departments[spec.department],
                manager=users.get(spec.manager) if spec.manager else None,
                display_name=spec.display_name,
                email=f"{spec.username}@example.com",
            )
            user.password = hashed
            user.save(update_fields=["password"])
            users[spec.username] = user
    return users, password


def _ensure_tags() -> list[int]:
    ids = []
    for name, color in DEMO_TAGS:
        tag, _ = Tag.objects.get_or_create(name=name, defaults={"color": color})
        ids.append(tag.pk)
    return ids


# --------------------------------------------------------------------------- vocabulary

# Surname: weight (roughly per 10,000 people). Includes compound surnames and surnames whose
# surname reading differs from the common one (单 shan, 曾 zeng, 解 xie, 仇 qiu, 区 ou, 查 zha ...).
_SURNAMES = (
    "王:710 李:700 张:640 刘:540 陈:450 杨:310 黄:220 赵:210 吴:200 周:190 徐:170 孙:150 马:140 朱:130 "
    "胡:130 郭:110 何:110 高:100 林:100 罗:90 郑:90 梁:80 谢:70 宋:60 唐:60 许:60 韩:50 冯:50 邓:50 "
    "曹:50 彭:50 曾:50 肖:40 田:40 董:40 袁:40 潘:40 于:40 蒋:40 蔡:40 余:40 杜:40 叶:40 程:30 苏:30 "
    "魏:30 吕:30 丁:30 任:30 沈:30 姚:30 卢:30 姜:30 崔:30 钟:30 谭:30 陆:20 汪:20 范:20 金:20 石:20 "
    "廖:20 贾:20 夏:20 韦:20 付:20 方:20 白:20 邹:20 孟:20 熊:20 秦:20 邱:20 江:20 尹:20 薛:20 闫:20 "
    "段:20 雷:20 侯:20 龙:20 史:20 陶:10 黎:10 贺:10 顾:10 毛:10 郝:10 龚:10 邵:10 万:10 钱:10 严:10 "
    "覃:10 武:10 戴:10 莫:10 孔:10 向:10 汤:10 单:6 解:5 仇:4 区:3 查:4 翟:6 缪:3 乐:3 朴:3 "
    "欧阳:6 司马:3 诸葛:2 上官:2 司徒:2 东方:1 慕容:1 皇甫:1 夏侯:1 令狐:1"
)
_MALE_CHARS = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林峰建国志文东海亮毅博诚晨轩睿泽宏坤成德松锋新江天翔子嘉家哲航远达铭洋振昊鸿彬永"
_FEMALE_CHARS = "芳娜敏静丽艳娟霞秀玲桂英萍红燕梅琳婷雪慧颖倩佳欣怡悦琪晶莉蓉洁兰月薇瑶雯珊妍璐媛晴彤思雨梦诗涵萱可馨楠露丹婉秋"

# (city, province, sales region E/S/N or "", weight, area code, districts)
_CITIES: list[tuple[str, str, str, int, str, str]] = [
    ("上海", "上海市", "E", 60, "021", "浦东新区 徐汇区 静安区 闵行区 黄浦区 长宁区"),
    ("北京", "北京市", "N", 55, "010", "朝阳区 海淀区 东城区 西城区 丰台区 通州区"),
    ("广州", "广东省", "S", 45, "020", "天河区 越秀区 海珠区 番禺区 白云区"),
    ("深圳", "广东省", "S", 45, "0755", "南山区 福田区 罗湖区 宝安区 龙岗区"),
    ("杭州", "浙江省", "E", 35, "0571", "西湖区 上城区 拱墅区 滨江区 余杭区"),
    ("成都", "四川省", "", 35, "028", "锦江区 武侯区 青羊区 高新区 成华区"),
    ("重庆", "重庆市", "", 30, "023", "渝中区 江北区 南岸区 九龙坡区 沙坪坝区"),
    ("武汉", "湖北省", "", 30, "027", "江汉区 武昌区 洪山区 江岸区 汉阳区"),
    ("南京", "江苏省", "E", 28, "025", "鼓楼区 玄武区 秦淮区 建邺区 江宁区"),
    ("苏州", "江苏省", "E", 28, "0512", "姑苏区 吴中区 相城区 虎丘区 吴江区"),
    ("西安", "陕西省", "", 22, "029", "雁塔区 碑林区 未央区 新城区 莲湖区"),
    ("天津", "天津市", "N", 22, "022", "和平区 南开区 河西区 滨海新区"),
    ("长沙", "湖南省", "", 20, "0731", "岳麓区 芙蓉区 天心区 开福区 雨花区"),
    ("郑州", "河南省", "", 20, "0371", "金水区 二七区 中原区 管城回族区"),
    ("东莞", "广东省", "S", 18, "0769", "南城街道 东城街道 长安镇 虎门镇"),
    ("佛山", "广东省", "S", 15, "0757", "禅城区 南海区 顺德区"),
    ("宁波", "浙江省", "E", 15, "0574", "鄞州区 海曙区 江北区 北仑区"),
    ("青岛", "山东省", "E", 15, "0532", "市南区 市北区 崂山区 黄岛区"),
    ("济南", "山东省", "E", 12, "0531", "历下区 市中区 槐荫区 天桥区"),
    ("无锡", "江苏省", "E", 12, "0510", "梁溪区 滨湖区 新吴区 锡山区"),
    ("合肥", "安徽省", "E", 12, "0551", "蜀山区 包河区 庐阳区 瑶海区"),
    ("沈阳", "辽宁省", "N", 12, "024", "和平区 沈河区 皇姑区 铁西区"),
    ("福州", "福建省", "S", 10, "0591", "鼓楼区 台江区 仓山区 晋安区"),
    ("厦门", "福建省", "S", 10, "0592", "思明区 湖里区 集美区 海沧区"),
    ("温州", "浙江省", "E", 10, "0577", "鹿城区 龙湾区 瓯海区"),
    ("大连", "辽宁省", "N", 9, "0411", "中山区 西岗区 沙河口区 甘井子区"),
    ("石家庄", "河北省", "N", 9, "0311", "长安区 桥西区 新华区 裕华区"),
    ("哈尔滨", "黑龙江省", "N", 8, "0451", "南岗区 道里区 香坊区"),
    ("昆明", "云南省", "", 8, "0871", "五华区 盘龙区 官渡区 西山区"),
    ("南昌", "江西省", "", 8, "0791", "东湖区 西湖区 红谷滩区 青山湖区"),
    ("太原", "山西省", "N", 7, "0351", "小店区 迎泽区 杏花岭区"),
    ("长春", "吉林省", "N", 7, "0431", "朝阳区 南关区 宽城区"),
    ("南宁", "广西壮族自治区", "S", 7, "0771", "青秀区 兴宁区 西乡塘区"),
    ("贵阳", "贵州省", "", 6, "0851", "南明区 云岩区 观山湖区"),
    ("珠海", "广东省", "S", 5, "0756", "香洲区 金湾区 斗门区"),
    ("呼和浩特", "内蒙古自治区", "N", 4, "0471", "新城区 回民区 赛罕区"),
    ("海口", "海南省", "S", 4, "0898", "龙华区 美兰区 秀英区"),
    ("兰州", "甘肃省", "", 4, "0931", "城关区 七里河区 安宁区"),
]
# Area codes whose local numbers have 7 digits (the rest have 8).
_SEVEN_DIGIT_AREAS = frozenset({"0592", "0771", "0756", "0351", "0471", "0931"})
_ROADS = _words(
    "人民路 中山路 解放路 建设路 和平路 新华路 长江路 科技路 文化路 学院路 胜利路 青年路 滨江大道 世纪大道 "
    "工业大道 创业路 迎宾路 光明路 幸福路 东风路"
)
_MOBILE_PREFIXES = _words("138 139 150 151 186 187 188 135 136 177 199 137 158 159 182 183 189 133 130 131")

# (word in the company name, industry)
_TRADES: list[tuple[str, str]] = [
    ("贸易", "批发零售"),
    ("商贸", "批发零售"),
    ("科技", "信息技术"),
    ("网络科技", "信息技术"),
    ("信息技术", "信息技术"),
    ("电子", "制造业"),
    ("机械设备", "制造业"),
    ("实业", "制造业"),
    ("新材料", "制造业"),
    ("餐饮管理", "餐饮"),
    ("食品", "食品饮料"),
    ("教育咨询", "教育培训"),
    ("医疗器械", "医疗健康"),
    ("生物科技", "医疗健康"),
    ("装饰工程", "建筑装修"),
    ("建筑工程", "建筑装修"),
    ("物流", "物流运输"),
    ("供应链管理", "物流运输"),
    ("服饰", "服装纺织"),
    ("纺织", "服装纺织"),
    ("汽车服务", "汽车服务"),
    ("文化传媒", "文化传媒"),
    ("广告", "文化传媒"),
    ("酒店管理", "旅游酒店"),
    ("农业发展", "农业"),
    ("电子商务", "电子商务"),
    ("美容美发", "美容美发"),
    ("房地产经纪", "房地产"),
]
_INDUSTRIES = sorted({industry for _, industry in _TRADES} | {"金融保险"})
_BRAND_CHARS = "恒泰华信鼎盛金源瑞丰宏达新宇永兴天成博远嘉和德润中汇联创智通卓越优品众佳美康安福祥隆昌荣鑫锦绣星辰正大顺益浩宝利万家长青云海峰明光辉腾飞凯旋"
_LEGAL_FORMS = [("有限公司", 75), ("有限责任公司", 12), ("股份有限公司", 8), ("集团有限公司", 5)]
_TITLES = _words(
    "总经理 副总经理 采购经理 采购主管 财务经理 财务总监 行政主管 市场总监 技术总监 销售经理 董事长 店长 项目经理 "
    "运营经理 人事经理"
)
_NOTES = [
    "展会上交换名片，对新品感兴趣",
    "老客户介绍，注意维护关系",
    "需要开具增值税专用发票",
    "工作日白天联系，周末不方便",
    "价格敏感，关注促销活动",
    "有批量采购需求，待报价",
    "上次投诉物流慢，已安抚",
    "喜欢通过微信沟通",
]
_EMAIL_DOMAINS = [("qq.com", 40), ("163.com", 25), ("126.com", 10), ("sina.com", 5), ("foxmail.com", 5),
                  ("gmail.com", 5), ("outlook.com", 5), ("hotmail.com", 5)]  # fmt: skip
_COMPANY_MAILBOXES = ["info", "sales", "service", "contact", "admin", "kefu", "hr"]
_OPENID_APPS = ["oUpF8u", "oX3gT5"]  # official account, mini program (openids share an app prefix)
_APP_IDS = {"oUpF8u": "wx8f3a2c1d9e0b4a67", "oX3gT5": "wx5b71e0c2a9d4f316"}
_SHOPS = ["天猫旗舰店", "京东自营", "抖音小店", "有赞商城", "拼多多店铺"]
_IMPORT_FILES = ["展会名单2024.xlsx", "老系统导出.csv", "经销商客户表.xlsx", "会员卡资料.xlsx"]

_PERSON_SOURCES = {
    Channel.MANUAL: 10, Channel.PHONE: 8, Channel.WECHAT: 15, Channel.WEBSITE: 8, Channel.MINI_PROGRAM: 10,
    Channel.ECOMMERCE: 15, Channel.POS: 10, Channel.CALL_CENTER: 4, Channel.EVENT: 6, Channel.REFERRAL: 6,
    Channel.IMPORT: 7, Channel.API: 1,
}  # fmt: skip
_COMPANY_SOURCES = {
    Channel.MANUAL: 20, Channel.PHONE: 10, Channel.WEBSITE: 15, Channel.EVENT: 20, Channel.REFERRAL: 15,
    Channel.IMPORT: 15, Channel.CALL_CENTER: 5,
}  # fmt: skip
_PHONE_SOURCES = {Channel.MANUAL: 30, Channel.PHONE: 20, Channel.IMPORT: 15, Channel.POS: 10,
                  Channel.ECOMMERCE: 10, Channel.WEBSITE: 10, Channel.CALL_CENTER: 5}  # fmt: skip
_EMAIL_SOURCES = {Channel.WEBSITE: 35, Channel.EMAIL: 25, Channel.IMPORT: 15, Channel.MANUAL: 15,
                  Channel.ECOMMERCE: 10}  # fmt: skip
_WECHAT_ID_SOURCES = {Channel.MANUAL: 40, Channel.EVENT: 25, Channel.REFERRAL: 20, Channel.PHONE: 15}
_ORDER_CHANNELS = {Channel.ECOMMERCE: 35, Channel.POS: 25, Channel.MINI_PROGRAM: 15, Channel.WECHAT: 10,
                   Channel.MANUAL: 10, Channel.PHONE: 5}  # fmt: skip
_ORDER_STATUSES = {OrderStatus.PAID: 92, OrderStatus.REFUNDED: 5, OrderStatus.CANCELLED: 3}
_TIERS = {Tier.NONE: 40, Tier.A: 10, Tier.B: 25, Tier.C: 25}
_POTENTIAL_TIERS = {Tier.NONE: 75, Tier.B: 5, Tier.C: 20}

S = LifecycleStage
_PERSON, _COMPANY = CustomerKind.PERSON.value, CustomerKind.COMPANY.value
_MALE, _FEMALE, _UNKNOWN = Gender.MALE.value, Gender.FEMALE.value, Gender.UNKNOWN.value
_PHONE, _EMAIL = ContactKind.PHONE.value, ContactKind.EMAIL.value
_OPENID, _WECHAT_ID = ContactKind.WECHAT_OPENID.value, ContactKind.WECHAT_ID.value
_POTENTIAL, _TIER_A = LifecycleStage.POTENTIAL.value, Tier.A.value
# Stage mix by customer age in days: (max age, {stage: weight}).
_STAGES_BY_AGE: list[tuple[int, dict[str, int]]] = [
    (30, {S.NEW: 55, S.POTENTIAL: 45}),
    (90, {S.NEW: 35, S.POTENTIAL: 30, S.ACTIVE: 35}),
    (180, {S.NEW: 5, S.POTENTIAL: 25, S.ACTIVE: 45, S.SILENT: 15, S.AT_RISK: 10}),
    (365, {S.POTENTIAL: 20, S.ACTIVE: 35, S.SILENT: 17, S.AT_RISK: 10, S.CHURNED: 13, S.WON_BACK: 5}),
    (10**6, {S.POTENTIAL: 18, S.ACTIVE: 30, S.SILENT: 15, S.AT_RISK: 8, S.CHURNED: 20, S.WON_BACK: 9}),
]
# Relative order frequency per stage, and how many days before today the stage's orders stop.
_ORDER_WEIGHT = {S.POTENTIAL: 0.0, S.NEW: 0.5, S.ACTIVE: 2.0, S.SILENT: 1.0, S.AT_RISK: 1.2, S.CHURNED: 0.8,
                 S.WON_BACK: 1.6}  # fmt: skip
_ORDER_QUIET_DAYS = {S.SILENT: 90, S.AT_RISK: 60, S.CHURNED: 180}

COMPANY_SHARE = 0.15
COMPANY_CONTACT_SHARE = 0.25  # persons linked to a company
DUPLICATE_EVERY = (25, 75)  # a near-copy of an earlier customer every 25..75 customers (~2%)


def _expand(weights: dict[Any, int] | list[tuple[Any, int]]) -> list[Any]:
    """A list where each value appears `weight` times: O(1) weighted picks by index.

    Enum members become their plain values (faster to bind and to COPY).
    """
    items = weights.items() if isinstance(weights, dict) else weights
    out: list[Any] = []
    for value, weight in items:
        out.extend([value.value if isinstance(value, enum.Enum) else value] * weight)
    return out


def _growth(u: float) -> float:
    """Map a uniform u in [0, 1] to a point of the history whose density rises linearly from 0.5 to 1.5
    (a growing company: three times as many new customers now as two years ago). Monotonic in u."""
    return -0.5 + math.sqrt(0.25 + 2.0 * u)


def _parse_surnames() -> list[str]:
    return _expand([(item.split(":")[0], int(item.split(":")[1])) for item in _SURNAMES.split()])


# --------------------------------------------------------------------------- table specs


class _Table:
    """A bulk-loaded table: db table name and the columns of the given model fields, in row order."""

    def __init__(self, model: Any, fields: str) -> None:
        meta = model._meta
        self.model = model
        self.table: str = meta.db_table
        self.columns: list[str] = [meta.get_field(name).column for name in fields.split()]


def _tables() -> dict[str, _Table]:
    through = Customer.tags.through
    return {
        "customer": _Table(
            Customer,
            "id kind name name_pinyin name_initials company title gender birthday industry province city "
            "address source owner lifecycle_stage tier custom_fields notes created_at updated_at completeness",
        ),
        "contact": _Table(
            ContactPoint, "id customer kind value normalized source source_ref verified is_primary created_at"
        ),
        "tag": _Table(through, "id customer tag"),
        "order": _Table(Order, "id customer number ordered_at amount currency channel status custom_fields"),
    }


@dataclass
class _Chunk:
    rows: dict[str, list[tuple]]
    last_ids: dict[str, int]  # table key -> highest id written by this chunk


# --------------------------------------------------------------------------- generator


@dataclass
class _Seed:
    """What a later near-duplicate copies from an earlier customer."""

    kind: str
    name: str
    gender: str
    city: int  # index into _CITIES, -1 for none
    phone: tuple[str, str]  # (display value, E.164)
    company: int | None
    industry: str
    title: str
    owner: int | None
    source: str


class _Generator:
    def __init__(
        self,
        *,
        seed: int,
        total: int,
        start_ids: dict[str, int],
        owners: dict[str, list[int]],
        tag_ids: list[int],
        orders_per_customer: float,
        vendor: str,
        now: int,
    ) -> None:
        self.rng = rng = random.Random(seed)
        self.rnd = rng.random
        self.total = total
        self.done = 0
        self.next_id = dict(start_ids)
        self.tag_ids = tag_ids
        self.now = now
        self.start = now - HISTORY_DAYS * DAY
        self.seed_salt = seed % 10_000_019

        # Timestamps: precomputed day prefixes and times of day, in the backend's text format.
        self.base = self.start // DAY * DAY
        days = (now - self.base) // DAY + 3
        self.days = [
            datetime.fromtimestamp(self.base + d * DAY, UTC).strftime("%Y-%m-%d ") for d in range(days)
        ]
        suffix = "+00:00" if vendor == "postgresql" else ""
        self.hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(DAY)]
        # Birthdays between 1958 and 2005 (ISO dates, same text on both backends).
        b0 = int(datetime(1958, 1, 1, tzinfo=UTC).timestamp())
        b1 = int(datetime(2005, 12, 31, tzinfo=UTC).timestamp())
        self.birthdays = [datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d") for t in range(b0, b1, DAY)]
        # Business hours (China time, as seconds after local midnight): weighted hours 8..22.
        hours = {8: 2, 9: 6, 10: 10, 11: 10, 12: 6, 13: 7, 14: 9, 15: 9, 16: 8, 17: 7, 18: 5, 19: 5, 20: 6,
                 21: 5, 22: 3}  # fmt: skip
        self.hours = _expand(hours)

        # Names.
        self.surnames = _parse_surnames()
        name_rng = random.Random(seed * 7919 + 17)
        self.given = {
            _MALE: self._given_pool(name_rng, _MALE_CHARS),
            _FEMALE: self._given_pool(name_rng, _FEMALE_CHARS),
        }
        self.keys_cache: dict[tuple[str, bool], tuple[str, str]] = {}
        self.used_company_names: set[str] = set()

        # Places.
        self.cities = [
            (f"{c}市", prov, region, area, districts.split())
            for c, prov, region, _w, area, districts in _CITIES
        ]
        self.city_short = [c for c, *_ in _CITIES]
        self.city_pick = _expand([(i, c[3]) for i, c in enumerate(_CITIES)])

        # Owners by sales region; "" = any rep. Managers own a few customers too.
        reps = owners.get("reps") or []
        self.any_rep = reps
        self.region_reps = {r: owners.get(f"reps:{r}") or reps for r in ("E", "S", "N")}
        self.region_reps[""] = reps
        self.managers = owners.get("managers") or reps

        # Weighted pick lists.
        self.person_sources = _expand(_PERSON_SOURCES)
        self.company_sources = _expand(_COMPANY_SOURCES)
        self.phone_sources = _expand(_PHONE_SOURCES)
        self.email_sources = _expand(_EMAIL_SOURCES)
        self.wechat_id_sources = _expand(_WECHAT_ID_SOURCES)
        self.order_channels = _expand(_ORDER_CHANNELS)
        self.order_statuses = _expand(_ORDER_STATUSES)
        self.tiers = _expand(_TIERS)
        self.potential_tiers = _expand(_POTENTIAL_TIERS)
        self.email_domains = _expand(_EMAIL_DOMAINS)
        self.legal_forms = _expand(_LEGAL_FORMS)
        self.stage_limits = [limit for limit, _ in _STAGES_BY_AGE]
        self.stage_picks = [_expand(w) for _, w in _STAGES_BY_AGE]

        # Orders: Poisson rate per stage so that the overall mean is `orders_per_customer`.
        self.order_rate = self._order_rates(orders_per_customer)

        # Sorted creation times: descending order statistics of uniforms, generated one at a time.
        self._m = 1.0
        self._left = total

        # Recent companies (for person -> company links) and recent customers (for duplicates).
        self.companies: list[tuple[int, int, str]] = []  # (id, city index, industry)
        self.seeds: list[_Seed] = []
        self.next_duplicate = rng.randint(*DUPLICATE_EVERY)
        self.duplicate_mode = 0
        self.s2t: Any = None

        self.w_person = dict(PERSON_WEIGHTS)
        self.w_company = dict(COMPANY_WEIGHTS)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _given_pool(rng: random.Random, chars: str) -> list[str]:
        chars = "".join(dict.fromkeys(chars))
        doubles: set[str] = set()
        while len(doubles) < 900:
            a, b = rng.choice(chars), rng.choice(chars)
            if a != b:
                doubles.add(a + b)
        # About a quarter of given names have one character.
        return sorted(doubles) + sorted(chars) * 4

    def _order_rates(self, mean: float) -> dict[str, float]:
        """Per-stage Poisson means, scaled (by simulation) so the expected orders per customer = mean."""
        rng = random.Random(12345)
        total = 0.0
        samples = 20_000
        for _ in range(samples):
            x = _growth(rng.random())
            created = self.start + int(x * (self.now - self.start))
            stage = self._stage_for(created, rng.random())
            if self._order_window(stage, created)[1] > 0:
                total += _ORDER_WEIGHT[stage]
        scale = mean * samples / total if total else 0.0
        return {stage.value: w * scale for stage, w in _ORDER_WEIGHT.items()}

    def _stage_for(self, created: int, u: float) -> str:
        age = (self.now - created) // DAY
        for limit, picks in zip(self.stage_limits, self.stage_picks, strict=True):
            if age < limit:
                return picks[int(u * len(picks))]
        return self.stage_picks[-1][int(u * len(self.stage_picks[-1]))]

    def _order_window(self, stage: str, created: int) -> tuple[int, int]:
        end = self.now - _ORDER_QUIET_DAYS.get(stage, 0) * DAY
        return created, max(0, end - created)

    def ts(self, t: int) -> str:
        d, s = divmod(t - self.base, DAY)
        return self.days[d] + self.hms[s]

    def business_time(self, t: int) -> int:
        """A time on the day of `t` during Chinese business hours (as a UTC epoch)."""
        local_day = (t + CHINA_OFFSET) // DAY * DAY
        hour = self.hours[int(self.rnd() * len(self.hours))]
        return local_day - CHINA_OFFSET + hour * 3600 + int(self.rnd() * 3600)

    def keys(self, name: str, person: bool) -> tuple[str, str]:
        cached = self.keys_cache.get((name, person))
        if cached is None:
            if len(self.keys_cache) > 300_000:
                self.keys_cache.clear()
            cached = self.keys_cache[(name, person)] = normalize.search_keys(name, person=person)
        return cached

    def new_id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def next_created(self) -> int:
        """Ascending creation times, denser towards today (the company grows)."""
        self._m *= self.rnd() ** (1.0 / max(self._left, 1))
        self._left -= 1
        x = _growth(1.0 - self._m)
        return min(self.start + int(x * (self.now - self.start)), self.now - 60)

    def mobile(self, cid: int) -> tuple[str, str]:
        # Unique per customer id: an invertible scramble of the id gives the last 8 digits.
        rest = (cid * 48_271_393 + self.seed_salt) % 100_000_000
        prefix = _MOBILE_PREFIXES[int(self.rnd() * len(_MOBILE_PREFIXES))]
        tail = f"{rest:08d}"
        return f"{prefix} {tail[:4]} {tail[4:]}", f"+86{prefix}{tail}"

    def landline(self, cid: int, city: int) -> tuple[str, str]:
        area = self.cities[city][3]
        first = "23456"[int(self.rnd() * 5)]
        if area in _SEVEN_DIGIT_AREAS:
            local = first + f"{(cid * 7_368_787 + self.seed_salt) % 1_000_000:06d}"
            display = f"+86 {area[1:]} {local[:3]} {local[3:]}"
        else:
            local = first + f"{(cid * 7_368_787 + self.seed_salt) % 10_000_000:07d}"
            display = f"+86 {area[1:]} {local[:4]} {local[4:]}"
        return display, f"+86{area[1:]}{local}"

    def owner(self, region: str) -> int | None:
        r = self.rnd()
        if r < 0.05:
            return None  # public pool (公海)
        if r < 0.09:
            pool = self.managers
        elif r < 0.85:
            pool = self.region_reps.get(region) or self.any_rep
        else:
            pool = self.any_rep
        return pool[int(self.rnd() * len(pool))] if pool else None

    def _owner_and_source(
        self, region: str, sources: list[str], copy: _Seed | None
    ) -> tuple[int | None, str]:
        """Owner and source of a new customer; a duplicate comes through another channel to another owner."""
        owner, source = self.owner(region), self.pick(sources)
        if copy is not None:
            for _ in range(5):
                if owner != copy.owner and owner is not None:
                    break
                owner = self.owner(region)
            for _ in range(5):
                if source != copy.source:
                    break
                source = self.pick(sources)
        return owner, source

    def pick(self, items: list[Any]) -> Any:
        return items[int(self.rnd() * len(items))]

    def token(self, nbytes: int) -> str:
        return base64.urlsafe_b64encode(self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")).decode()

    def traditional(self, text: str) -> str:
        if self.s2t is None:
            import opencc

            self.s2t = opencc.OpenCC("s2t")
        return self.s2t.convert(text)

    # -- rows --------------------------------------------------------------------------------

    def chunk(self, size: int) -> _Chunk:
        rows: dict[str, list[tuple]] = {"customer": [], "contact": [], "tag": [], "order": []}
        for _ in range(size):
            self.done += 1
            if self.done >= self.next_duplicate and self.seeds:
                self.next_duplicate = self.done + self.rng.randint(*DUPLICATE_EVERY)
                self._duplicate(rows)
            elif self.rnd() < COMPANY_SHARE:
                self._company(rows)
            else:
                self._person(rows)
        last_ids = {table: self.next_id[table] - 1 for table in rows}
        return _Chunk(rows=rows, last_ids=last_ids)

    def _person(
        self,
        rows: dict[str, list[tuple]],
        copy: _Seed | None = None,
        name: str = "",
        same_phone: bool = False,
    ) -> None:
        rnd = self.rnd
        cid = self.new_id("customer")
        created = self.next_created()
        stage = self._stage_for(created, rnd())
        company_id: int | None = None
        title = industry = ""
        if copy is None:
            r = rnd()
            gender = _FEMALE if r < 0.48 else _MALE
            name = self.pick(self.surnames) + self.pick(self.given[gender])
            if r > 0.95:
                gender = _UNKNOWN
            city = self.pick(self.city_pick) if rnd() < 0.88 else -1
            if self.companies and rnd() < COMPANY_CONTACT_SHARE:
                company_id, company_city, industry = self.pick(self.companies)
                title = self.pick(_TITLES)
                if rnd() < 0.8:
                    city = company_city
            else:
                if rnd() < 0.08:
                    title = self.pick(_TITLES)
                if rnd() < 0.2:
                    industry = self.pick(_INDUSTRIES)
            phone = self.mobile(cid)
        else:
            # Entered again through another channel, usually by someone else than the first owner.
            gender, city, company_id = copy.gender, copy.city, copy.company
            title, industry = copy.title, copy.industry
            phone = copy.phone if same_phone else self.mobile(cid)
        owner, source = self._owner_and_source(
            self.cities[city][2] if city >= 0 else "", self.person_sources, copy
        )
        if city >= 0:
            city_name, province, _region, _area, districts = self.cities[city]
        else:
            city_name = province = ""
            districts = []
        address = ""
        if districts and rnd() < 0.15:
            address = (
                f"{'' if province == city_name else province}{city_name}{self.pick(districts)}"
                f"{self.pick(_ROADS)}{int(rnd() * 300) + 1}号"
                f"{int(rnd() * 30) + 1}栋{int(rnd() * 25) + 1}{int(rnd() * 4) + 1:02d}室"
            )
        birthday = self.pick(self.birthdays) if rnd() < 0.35 else None
        pinyin, initials = self.keys(name, True)

        # Contact points: every person has a mobile; ~50% WeChat, ~30% e-mail.
        contacts = rows["contact"]
        t_created = self.ts(created)
        phone_source = source if rnd() < 0.6 and source in _PHONE_SOURCES else self.pick(self.phone_sources)
        contacts.append(
            (self.new_id("contact"), cid, _PHONE, phone[0], phone[1], phone_source, "", rnd() < 0.35, True,
             t_created)
        )  # fmt: skip
        messaging = False
        if rnd() < 0.5:
            messaging = True
            contacts.append(self._wechat(cid, pinyin, t_created))
        if rnd() < 0.3:
            messaging = True
            contacts.append(self._email(cid, pinyin, t_created))

        w = self.w_person
        completeness = (
            w["phone"]
            + (w["messaging"] if messaging else 0)
            + (w["city"] if city_name else 0)
            + (w["province"] if province else 0)
            + (w["company_id"] if company_id else 0)
            + (w["title"] if title else 0)
            + (w["gender"] if gender else 0)
            + (w["birthday"] if birthday else 0)
            + (w["industry"] if industry else 0)
            + (w["owner_id"] if owner else 0)
        )
        tier = self.pick(self.potential_tiers if stage == _POTENTIAL else self.tiers)
        notes = self.pick(_NOTES) if rnd() < 0.05 else ""
        updated = created if rnd() < 0.6 else created + int(rnd() * (self.now - created))
        rows["customer"].append(
            (cid, _PERSON, name, pinyin, initials, company_id, title, gender, birthday, industry, province,
             city_name, address, source, owner, stage, tier, "{}", notes, t_created, self.ts(updated),
             completeness)
        )  # fmt: skip
        self._tags(rows, cid, tier)
        self._orders(rows, cid, stage, created, source, company=False)
        if copy is None:
            self._remember(
                _Seed(_PERSON, name, gender, city, phone, company_id, industry, title, owner, source)
            )

    def _company(
        self,
        rows: dict[str, list[tuple]],
        copy: _Seed | None = None,
        name: str = "",
        same_phone: bool = False,
    ) -> None:
        rnd = self.rnd
        cid = self.new_id("customer")
        created = self.next_created()
        stage = self._stage_for(created, rnd())
        if copy is None:
            city = self.pick(self.city_pick)
            trade, industry = self.pick(_TRADES)
            for _ in range(20):  # company names are unique within a run (except deliberate duplicates)
                brand = self.pick(_BRAND_CHARS) + self.pick(_BRAND_CHARS)
                name = f"{self.city_short[city]}{brand}{trade}{self.pick(self.legal_forms)}"
                if brand[0] != brand[1] and name not in self.used_company_names:
                    break
            self.used_company_names.add(name)
            phone = self.landline(cid, city)
        else:
            city, industry = copy.city, copy.industry
            phone = copy.phone if same_phone else self.landline(cid, city)
        city_name, province, region, _area, districts = self.cities[city]
        owner, source = self._owner_and_source(region, self.company_sources, copy)
        address = ""
        if rnd() < 0.9:
            address = (
                f"{'' if province == city_name else province}{city_name}{self.pick(districts)}"
                f"{self.pick(_ROADS)}{int(rnd() * 500) + 1}号"
            )
        pinyin, initials = self.keys(name, False)

        contacts = rows["contact"]
        t_created = self.ts(created)
        contacts.append(
            (self.new_id("contact"), cid, _PHONE, phone[0], phone[1], source, "", rnd() < 0.5, True,
             t_created)
        )  # fmt: skip
        if rnd() < 0.3:  # the boss's mobile
            mobile = self.mobile(cid)
            contacts.append(
                (self.new_id("contact"), cid, _PHONE, mobile[0], mobile[1], self.pick(self.phone_sources), "",
                 False, False, t_created)
            )  # fmt: skip
        messaging = False
        if rnd() < 0.4:
            messaging = True
            short = self.city_short[city]
            brand = name[len(short) : len(short) + 2] if name.startswith(short) else name[:2]
            email = f"{self.pick(_COMPANY_MAILBOXES)}@{self.keys(brand, False)[0] or 'corp'}{cid % 1000}.com"
            contacts.append(
                (self.new_id("contact"), cid, _EMAIL, email, email, self.pick(self.email_sources), "",
                 rnd() < 0.3, True, t_created)
            )  # fmt: skip

        w = self.w_company
        completeness = (
            w["phone"]
            + (w["messaging"] if messaging else 0)
            + w["city"]
            + w["province"]
            + w["industry"]
            + (w["address"] if address else 0)
            + (w["owner_id"] if owner else 0)
        )
        tier = self.pick(self.potential_tiers if stage == _POTENTIAL else self.tiers)
        notes = self.pick(_NOTES) if rnd() < 0.05 else ""
        updated = created if rnd() < 0.6 else created + int(rnd() * (self.now - created))
        rows["customer"].append(
            (cid, _COMPANY, name, pinyin, initials, None, "", "", None, industry, province, city_name, address,
             source, owner, stage, tier, "{}", notes, t_created, self.ts(updated), completeness)
        )  # fmt: skip
        self._tags(rows, cid, tier)
        self._orders(rows, cid, stage, created, source, company=True)
        if copy is None:
            self.companies.append((cid, city, industry))
            if len(self.companies) > 20_000:
                del self.companies[:5_000]
            self._remember(_Seed(_COMPANY, name, "", city, phone, None, industry, "", owner, source))

    def _remember(self, seed: _Seed) -> None:
        self.seeds.append(seed)
        if len(self.seeds) > 5_000:
            del self.seeds[:1_000]

    def _duplicate(self, rows: dict[str, list[tuple]]) -> None:
        """A near-copy of an earlier customer, entered again through another channel.

        Alternates between "same phone" copies (same name, or the name written differently) and
        "same name and city" copies whose name is a traditional-character or title variant
        ("張偉", "张伟先生", "上海恒泰贸易公司") with a new phone number.
        """
        seed = self.pick(self.seeds)
        self.duplicate_mode ^= 1
        same_phone = self.duplicate_mode == 1
        person = seed.kind == _PERSON
        name = self._variant(seed) if not same_phone or self.rnd() < 0.5 else seed.name
        if person:
            self._person(rows, copy=seed, name=name, same_phone=same_phone)
        else:
            self._company(rows, copy=seed, name=name, same_phone=same_phone)

    def _variant(self, seed: _Seed) -> str:
        name = seed.name
        if self.rnd() < 0.5:
            traditional = self.traditional(name)
            if traditional != name:
                return traditional
        if seed.kind == _PERSON:
            return name + {_MALE: "先生", _FEMALE: "女士"}.get(seed.gender, "老师")
        for form in sorted((f for f, _w in _LEGAL_FORMS), key=len, reverse=True):
            if name.endswith(form):
                return name[: -len(form)] + "公司"
        return name + "公司"

    def _wechat(self, cid: int, pinyin: str, t_created: str) -> tuple:
        rnd = self.rnd
        if rnd() < 0.55:
            app = _OPENID_APPS[0] if rnd() < 0.6 else _OPENID_APPS[1]
            value = app + self.token(18)[:22]
            source = Channel.WECHAT if app == _OPENID_APPS[0] else Channel.MINI_PROGRAM
            return (self.new_id("contact"), cid, _OPENID, value, value, source,
                    _APP_IDS[app], True, True, t_created)  # fmt: skip
        if rnd() < 0.5:
            value = (
                "wxid_" + base64.b32encode(self.rng.getrandbits(80).to_bytes(10, "big")).decode()[:14].lower()
            )
        else:
            value = f"{pinyin[:12] or 'wx'}_{int(rnd() * 99_000) + 1_000}"
        return (self.new_id("contact"), cid, _WECHAT_ID, value, value,
                self.pick(self.wechat_id_sources), "", rnd() < 0.1, True, t_created)  # fmt: skip

    def _email(self, cid: int, pinyin: str, t_created: str) -> tuple:
        rnd = self.rnd
        domain = self.pick(self.email_domains)
        if domain == "qq.com" and rnd() < 0.5:
            local = str(int(rnd() * 2_000_000_000) + 10_000)
        else:
            local = f"{pinyin or 'user'}{int(rnd() * 99_900) + 100}"
        value = f"{local}@{domain}"
        source = self.pick(self.email_sources)
        ref = self.pick(_IMPORT_FILES) if source == Channel.IMPORT else ""
        return (self.new_id("contact"), cid, _EMAIL, value, value, source, ref, rnd() < 0.2, True,
                t_created)  # fmt: skip

    def _tags(self, rows: dict[str, list[tuple]], cid: int, tier: str) -> None:
        rnd = self.rnd
        if rnd() >= 0.2:
            return
        tags = self.tag_ids
        first = tags[0] if tier == _TIER_A and rnd() < 0.5 else self.pick(tags)
        rows["tag"].append((self.new_id("tag"), cid, first))
        if rnd() < 0.25:
            second = self.pick(tags)
            if second != first:
                rows["tag"].append((self.new_id("tag"), cid, second))

    def _orders(self, rows: dict[str, list[tuple]], cid: int, stage: str, created: int, source: str,
                *, company: bool) -> None:  # fmt: skip
        lam = self.order_rate[stage]
        if lam <= 0:
            return
        start, span = self._order_window(stage, created)
        if span <= 0:
            return
        rnd = self.rnd
        # Poisson(lam) by multiplication of uniforms (lam is small).
        limit = math.exp(-lam)
        count = 0
        p = rnd()
        while p > limit:
            count += 1
            p *= rnd()
        if not count:
            return
        orders = rows["order"]
        own_channel = source in _ORDER_CHANNELS
        mu, sigma = (8.3, 1.1) if company else (5.6, 1.0)  # median ~4,000 / ~270 CNY
        for _ in range(count):
            oid = self.new_id("order")
            t = self.business_time(start + int(rnd() * span))
            if t > self.now or t < start:  # business hours moved it out of the window
                t = start + int(rnd() * span)
            amount = math.exp(mu + sigma * self.rng.gauss())
            if amount > 5_000_000:
                amount = 5_000_000.0
            text = f"{round(amount)}.00" if rnd() < 0.5 else f"{amount:.2f}"
            channel = source if own_channel and rnd() < 0.7 else self.pick(self.order_channels)
            orders.append((oid, cid, f"SO{oid:010d}", self.ts(t), text, "CNY", channel,
                           self.pick(self.order_statuses), "{}"))  # fmt: skip


# --------------------------------------------------------------------------- writers


class _Writer:
    """Writes chunks, either synchronously (inside an outer transaction) or from a writer thread."""

    def __init__(self, tables: dict[str, _Table]) -> None:
        connection.ensure_connection()
        self.tables = tables
        self.vendor = connection.vendor
        self.raw = connection.connection
        self.own_transactions = not connection.in_atomic_block
        self.quote = connection.ops.quote_name
        self.error: BaseException | None = None
        self.write_seconds = 0.0  # time spent writing (writer thread)
        self.wait_seconds = 0.0  # time the generator waited for the writer
        self.queue: queue.Queue[_Chunk | None] = queue.Queue(maxsize=1)
        self.thread: threading.Thread | None = None
        self.sequences: dict[str, str] = {}
        self.restore: list[str] = []
        if self.vendor == "postgresql":
            with connection.cursor() as cur:
                for key, spec in tables.items():
                    cur.execute("SELECT pg_get_serial_sequence(%s, %s)", [spec.table, "id"])
                    self.sequences[key] = cur.fetchone()[0]
        elif self.vendor == "sqlite" and self.own_transactions:
            # Bulk-session settings, restored in close().
            with connection.cursor() as cur:
                for pragma, value in (("synchronous", "OFF"), ("cache_size", str(-512 * 1024))):
                    cur.execute(f"PRAGMA {pragma}")
                    self.restore.append(f"PRAGMA {pragma}={cur.fetchone()[0]}")
                    cur.execute(f"PRAGMA {pragma}={value}")
        elif self.vendor not in ("postgresql", "sqlite"):
            raise NotImplementedError(f"demo data loading supports PostgreSQL and SQLite, not {self.vendor}")
        if self.own_transactions:
            self.thread = threading.Thread(target=self._run, name="guanxi-demo-writer", daemon=True)
            self.thread.start()

    def start_ids(self) -> dict[str, int]:
        """First free id per table: above the highest row and the sequence (ids of deleted rows stay used)."""
        ids = {}
        with connection.cursor() as cur:
            for key, spec in self.tables.items():
                highest = spec.model.objects.aggregate(m=Max("id"))["m"] or 0
                if self.vendor == "postgresql":
                    cur.execute(f"SELECT last_value, is_called FROM {self.sequences[key]}")  # noqa: S608
                    last, called = cur.fetchone()
                    highest = max(highest, last if called else last - 1)
                else:
                    cur.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [spec.table])
                    row = cur.fetchone()
                    highest = max(highest, row[0] if row else 0)
                ids[key] = highest + 1
        return ids

    def submit(self, chunk: _Chunk) -> None:
        if self.thread is None:
            self._write(chunk)
            return
        if self.error is not None:
            raise self.error
        started = time.perf_counter()
        self.queue.put(chunk)
        self.wait_seconds += time.perf_counter() - started

    def close(self) -> None:
        try:
            if self.thread is not None:
                self.queue.put(None)
                self.thread.join()
                self.thread = None
            if self.error is not None:
                raise self.error
        finally:
            if self.restore:
                with connection.cursor() as cur:
                    for statement in self.restore:
                        cur.execute(statement)
                self.restore = []

    def analyze(self) -> None:
        """Fresh planner statistics for the bulk-loaded tables."""
        with connection.cursor() as cur:
            if self.vendor == "postgresql":
                for spec in self.tables.values():
                    cur.execute(f"ANALYZE {self.quote(spec.table)}")
            else:
                cur.execute("PRAGMA analysis_limit=1000")  # sampled, like PostgreSQL's ANALYZE
                for spec in self.tables.values():
                    cur.execute(f"ANALYZE {self.quote(spec.table)}")
                cur.execute("PRAGMA analysis_limit=0")

    def _run(self) -> None:
        while True:
            chunk = self.queue.get()
            if chunk is None:
                return
            if self.error is None:
                try:
                    self._write(chunk)
                except BaseException as exc:  # reported to the generating thread
                    self.error = exc

    def _write(self, chunk: _Chunk) -> None:
        started = time.perf_counter()
        if self.vendor == "postgresql":
            self._write_postgresql(chunk)
        else:
            self._write_sqlite(chunk)
        self.write_seconds += time.perf_counter() - started

    def _write_postgresql(self, chunk: _Chunk) -> None:
        raw = self.raw
        tx = raw.transaction() if self.own_transactions else contextlib.nullcontext()
        with tx, raw.cursor() as cur:
            if self.own_transactions:
                cur.execute("SET LOCAL synchronous_commit TO OFF")
            for key, spec in self.tables.items():
                rows = chunk.rows[key]
                if not rows:
                    continue
                columns = ", ".join(self.quote(c) for c in spec.columns)
                with cur.copy(f"COPY {self.quote(spec.table)} ({columns}) FROM STDIN") as copy:
                    write = copy.write_row
                    for row in rows:
                        write(row)
            for key, last in chunk.last_ids.items():
                seq = self.sequences[key]
                cur.execute(
                    f"SELECT setval(%s, GREATEST(%s, (SELECT last_value FROM {seq})))",  # noqa: S608
                    [seq, last],
                )

    def _write_sqlite(self, chunk: _Chunk) -> None:
        raw = self.raw
        if self.own_transactions:
            raw.execute("BEGIN IMMEDIATE")
        try:
            for key, spec in self.tables.items():
                rows = chunk.rows[key]
                if rows:
                    columns = ", ".join(self.quote(c) for c in spec.columns)
                    marks = ", ".join("?" * len(spec.columns))
                    sql = f"INSERT INTO {self.quote(spec.table)} ({columns}) VALUES ({marks})"  # noqa: S608
                    raw.executemany(sql, rows)
        except BaseException:
            if self.own_transactions:
                raw.execute("ROLLBACK")
            raise
        if self.own_transactions:
            raw.execute("COMMIT")


# --------------------------------------------------------------------------- entry point


def _owner_pools(users: dict[str, User]) -> dict[str, list[int]]:
    pools: dict[str, list[int]] = {"reps": [], "managers": []}
    for spec in DEMO_USERS:
        user = users.get(spec.username)
        if user is None or not user.is_active:
            continue
        if spec.role == "sales_rep":
            pools["reps"].append(user.pk)
            region = SALES_REGION.get(spec.department)
            if region:
                pools.setdefault(f"reps:{region}", []).append(user.pk)
        elif spec.role == "sales_manager":
            pools["managers"].append(user.pk)
    return pools


def load_demo(
    customers: int,
    *,
    seed: int = 42,
    orders_per_customer: float = 2.0,
    progress: ProgressFn | None = None,
    password: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    now: datetime | None = None,
) -> dict:
    """Create the demo organisation (if missing) and `customers` customers with contact points,
    tags and orders.

    `progress(stage, done, total)` is called per chunk (stages "organisation", "customers",
    "analyze"). `now` (default: the current time) is the end of the two-year history; with the same
    seed and `now` an empty database gets the same data. Returns counts, the demo usernames, their
    password (None when all demo users already existed: their passwords are unchanged), the seconds
    taken and where they went.
    """
    if customers < 0 or orders_per_customer < 0 or chunk_size < 1:
        raise ValueError("customers and orders_per_customer must not be negative, chunk_size positive")
    report: ProgressFn = progress or (lambda stage, done, total: None)
    started = time.perf_counter()

    report("organisation", 0, 1)
    users, new_password = ensure_demo_org(password)
    tag_ids = _ensure_tags()
    report("organisation", 1, 1)

    counts = {"customer": 0, "contact": 0, "tag": 0, "order": 0}
    timings = {"generate": 0.0, "write": 0.0, "wait": 0.0}
    if customers:
        tables = _tables()
        writer = _Writer(tables)
        try:
            generator = _Generator(
                seed=seed,
                total=customers,
                start_ids=writer.start_ids(),
                owners=_owner_pools(users),
                tag_ids=tag_ids,
                orders_per_customer=orders_per_customer,
                vendor=writer.vendor,
                now=int((now or datetime.now(UTC)).timestamp()),
            )
            report("customers", 0, customers)
            done = 0
            while done < customers:
                size = min(chunk_size, customers - done)
                t0 = time.perf_counter()
                chunk = generator.chunk(size)
                timings["generate"] += time.perf_counter() - t0
                for key, rows in chunk.rows.items():
                    counts[key] += len(rows)
                writer.submit(chunk)
                done += size
                report("customers", done, customers)
        finally:
            t0 = time.perf_counter()
            writer.close()
            timings["write"] = writer.write_seconds
            timings["wait"] = writer.wait_seconds + time.perf_counter() - t0
        if writer.own_transactions:
            report("analyze", 0, 1)
            writer.analyze()
            report("analyze", 1, 1)

    deals = load_demo_deals(seed=seed, now=now)
    return {
        "customers": counts["customer"],
        "contact_points": counts["contact"],
        "orders": counts["order"],
        "deals": deals,
        "tags": counts["tag"],
        "users": [spec.username for spec in DEMO_USERS],
        "password": new_password,
        "seconds": round(time.perf_counter() - started, 2),
        # Where the time went: generating rows, writing them (overlaps generating when threaded),
        # and the generator waiting for the writer.
        "timings": {key: round(value, 2) for key, value in timings.items()},
    }
