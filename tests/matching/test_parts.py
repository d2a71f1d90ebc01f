"""The matcher's modules on their own: value keys, comparison levels, clustering, and its purity."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from guanxi.matching.clustering import cluster_pairs
from guanxi.matching.comparisons import ALL_COMPARISONS, BITS, decode, email_level, name_level
from guanxi.matching.keys import name_keys, norm_email, norm_phone, parse_dob, split_full_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1971-06-24", ("19710624", 1971, 6, 24)),
        ("1971/6/4", ("19710604", 1971, 6, 4)),
        ("1971年6月24日", ("19710624", 1971, 6, 24)),
        ("19710624", ("19710624", 1971, 6, 24)),
        ("24/06/1971", ("19710624", 1971, 6, 24)),  # day first where it is unambiguous
        ("06/24/1971", ("19710624", 1971, 6, 24)),  # month first only when the day cannot be
        ("about 1971", ("1971", 0, 0, 0)),  # unknown format: its digits, compared as text
        ("   ", None),
    ],
)
def test_dates_of_birth(raw, expected):
    assert parse_dob(raw) == expected


def test_names_are_split_and_keyed_through_guanxi_text():
    assert split_full_name("欧阳修文") == ("修文", "欧阳")  # compound surname
    assert split_full_name("張偉") == ("伟", "张")  # traditional folded to simplified
    assert split_full_name("Allen, Robert") == ("Robert", "Allen")
    assert split_full_name("Robert James Allen") == ("Robert", "Allen")
    assert name_keys("張偉先生") == ("张伟", "zhangwei")  # title stripped, pinyin as latin key
    assert name_keys("José") == ("josé", "jose")
    assert name_keys("  ") is None


def test_invalid_contacts_are_still_compared_as_text():
    assert norm_phone("+86 138-1234-5678") == "+8613812345678"
    assert norm_phone("0123 4567") == "01234567"  # not a valid number: its digits
    assert norm_phone("+99 1234") == "+991234"
    assert norm_phone("12-34") is None  # too short to mean anything
    assert norm_email(" Robert.Allen@Example.COM ") == "robert.allen@example.com"
    assert norm_email("robert allen@example") == "robertallen@example"  # no TLD: kept as text


def test_levels():
    assert name_level("张伟", "zhangwei", "张伟", "zhangwei") == 1
    assert name_level("张伟", "zhangwei", "章伟", "zhangwei") == 2  # same pinyin
    assert name_level("robert", "robert", "rob", "rob") == 3  # Jaro-Winkler 0.9
    assert name_level("li", "li", "lu", "lu") == 4  # one edit
    assert name_level("grace", "grace", "kelly", "kelly") == 5
    assert email_level("a.b@x.com", "a.b@y.com") == 2  # two edits
    assert email_level("robert.allen@gmail.com", "robert.allen@163.com") == 3  # same local part
    levels = [3, 0, 1] + [0] * (len(ALL_COMPARISONS) - 3)
    code = sum(level << (BITS * c) for c, level in enumerate(levels))
    assert decode(code, len(levels)) == levels


def test_chaining_guard_splits_a_chain():
    # 0-1 and 1-2 are linked, but 0 and 2 are almost surely different people
    pairs = [(0, 1, 0.9), (1, 2, 0.9)]
    unguarded = cluster_pairs(pairs, cut=0.5, guard=False, max_size=100)
    assert [members for members, _ in unguarded] == [[0, 1, 2]]
    assert unguarded[0][1][(0, 2)] == 0.5  # never compared: the threshold supported it
    guarded = cluster_pairs(pairs, cut=0.5, guard=True, max_size=100, probability=lambda i, j: 0.01)
    assert len(guarded) == 1 and len(guarded[0][0]) == 2  # one of the two links survives
    trusted = cluster_pairs(pairs, cut=0.5, guard=True, max_size=100, probability=lambda i, j: 0.95)
    assert [members for members, _ in trusted] == [[0, 1, 2]]


def test_components_never_grow_past_max_size():
    pairs = [(i, i + 1, 0.99 - i / 100) for i in range(5)]  # a chain of six records
    entities = cluster_pairs(pairs, cut=0.5, guard=True, max_size=3, probability=lambda i, j: 0.99)
    assert max(len(members) for members, _ in entities) <= 3


def test_matching_and_text_run_without_django(tmp_path):
    """Importing and running the matcher loads neither Django nor any app of Guanxi."""
    src = tmp_path / "people.csv"
    src.write_text(
        "unique_id,full_name,dob,phone\n1,张伟,1980-01-02,13812345678\n2,張偉,1980-01-02,138 1234 5678\n"
        "3,李娜,1990-05-06,13900001111\n",
        encoding="utf-8",
    )
    script = textwrap.dedent(
        f"""
        import sys
        from guanxi.matching import dedupe_csv
        stats = dedupe_csv({str(src)!r}, {str(tmp_path / "out.csv")!r})
        assert stats["predicted_pairs"] == 1, stats
        loaded = sorted(m for m in sys.modules if m == "django" or m.startswith(("django.", "guanxi.")))
        print(" ".join(loaded))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    loaded = result.stdout.split()
    assert loaded, result.stderr
    assert all(m.startswith(("guanxi.matching", "guanxi.text")) for m in loaded), loaded
