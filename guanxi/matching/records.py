"""The matcher's view of people: :class:`PersonRecord` in, column-oriented :class:`Prepared` data out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guanxi.matching.keys import (
    clean,
    fold,
    name_keys,
    norm_company,
    norm_email,
    norm_phone,
    norm_place,
    norm_text,
    parse_dob,
    split_full_name,
)

FIELDS: tuple[str, ...] = (
    "first_name",
    "surname",
    "full_name",
    "dob",
    "city",
    "address",
    "postcode",
    "state",
    "email",
    "phone",
    "company",
    "national_id",
)


@dataclass(slots=True)
class PersonRecord:
    """One person as seen by the matcher; every field is an optional string (None = missing)."""

    unique_id: str | None = None
    first_name: str | None = None
    surname: str | None = None
    full_name: str | None = None
    dob: str | None = None
    city: str | None = None
    address: str | None = None
    postcode: str | None = None
    state: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    national_id: str | None = None


class Prepared:
    """Column-oriented normalised view of a list of records (index = position in the list)."""

    def __init__(self, records: Sequence[PersonRecord]) -> None:
        n = len(records)
        self.n = n
        self.ids: list[str] = []
        self.fn_e: list[str | None] = [None] * n  # first name, exact key
        self.fn_l: list[str | None] = [None] * n  # first name, latin (pinyin) key
        self.sn_e: list[str | None] = [None] * n
        self.sn_l: list[str | None] = [None] * n
        self.dob: list[tuple[str, int, int, int] | None] = [None] * n
        self.email: list[str | None] = [None] * n
        self.phone: list[str | None] = [None] * n
        self.city: list[str | None] = [None] * n
        self.address: list[str | None] = [None] * n
        self.postcode: list[str | None] = [None] * n
        self.state: list[str | None] = [None] * n
        self.company: list[str | None] = [None] * n
        self.national_id: list[str | None] = [None] * n
        # interned name parts (first names and surnames share one table, for swaps); -1 = missing
        self.fn_id: list[int] = [-1] * n
        self.sn_id: list[int] = [-1] * n
        self.name_exact: list[str] = []
        self.name_latin: list[str] = []
        name_ids: dict[str, int] = {}
        phone_cache: dict[str, str | None] = {}
        email_cache: dict[str, str | None] = {}
        place_cache: dict[str, str | None] = {}
        company_cache: dict[str, str | None] = {}
        for i, rec in enumerate(records):
            self.ids.append("" if rec.unique_id is None else str(rec.unique_id))
            first, surname = clean(rec.first_name), clean(rec.surname)
            full = clean(rec.full_name)
            if full and not (first and surname):
                f2, s2 = split_full_name(full)
                if not first and not surname:
                    first, surname = f2, s2
                elif not surname and s2 and first and fold(first) != fold(s2):
                    surname = s2
                elif not first and f2 and surname and fold(surname) != fold(f2):
                    first = f2
            if first:
                keys = name_keys(first)
                if keys:
                    self.fn_e[i], self.fn_l[i] = keys
                    self.fn_id[i] = self._intern(name_ids, keys)
            if surname:
                keys = name_keys(surname)
                if keys:
                    self.sn_e[i], self.sn_l[i] = keys
                    self.sn_id[i] = self._intern(name_ids, keys)
            raw = clean(rec.dob)
            if raw:
                self.dob[i] = parse_dob(raw)
            raw = clean(rec.email)
            if raw:
                if raw not in email_cache:
                    email_cache[raw] = norm_email(raw)
                self.email[i] = email_cache[raw]
            raw = clean(rec.phone)
            if raw:
                if raw not in phone_cache:
                    phone_cache[raw] = norm_phone(raw)
                self.phone[i] = phone_cache[raw]
            raw = clean(rec.city)
            if raw:
                if raw not in place_cache:
                    place_cache[raw] = norm_place(raw)
                self.city[i] = place_cache[raw]
            raw = clean(rec.state)
            if raw:
                if raw not in place_cache:
                    place_cache[raw] = norm_place(raw)
                self.state[i] = place_cache[raw]
            raw = clean(rec.postcode)
            if raw:
                self.postcode[i] = fold(raw) or None
            raw = clean(rec.address)
            if raw:
                self.address[i] = norm_text(raw)
            raw = clean(rec.company)
            if raw:
                if raw not in company_cache:
                    company_cache[raw] = norm_company(raw)
                self.company[i] = company_cache[raw]
            raw = clean(rec.national_id)
            if raw:
                self.national_id[i] = fold(raw) or None

    def _intern(self, ids: dict[str, int], keys: tuple[str, str]) -> int:
        found = ids.get(keys[0])
        if found is None:
            found = ids[keys[0]] = len(self.name_exact)
            self.name_exact.append(keys[0])
            self.name_latin.append(keys[1])
        return found

    def column(self, name: str) -> list[Any]:
        return getattr(self, name)  # type: ignore[no-any-return]
