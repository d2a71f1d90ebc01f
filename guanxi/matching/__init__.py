"""Probabilistic record linkage (deduplication) of people.

Pure Python (no Django, no numpy, no app of Guanxi; only ``guanxi.text`` below it, an
import-linter contract in pyproject.toml enforces this): a Fellegi-Sunter model whose parameters
are estimated on the data itself, in the spirit of splink.

1. Each record is normalised once (``records``, ``keys``): names folded to lower-case ASCII;
   Chinese names in simplified characters plus a toneless pinyin key; phones in E.164; dates of
   birth parsed from the usual formats, all through ``guanxi.text``.
2. Candidate pairs come from the union of blocking rules (``blocking``), each with a budget of
   pairs, so nothing is quadratic.
3. Every pair is compared field by field (``comparisons``, ``pairs``); each comparison yields a
   *level* (exact, close, fuzzy, different, or null when a side is missing: null carries no
   evidence). First name and surname are also compared crosswise (swapped names), Chinese names
   by characters then by pinyin.
4. u and m are estimated on the data, m by EM (``estimation``); exact agreements on rare values
   weigh more (``scoring``).
5. Pairs whose match probability reaches the threshold (by default the one maximising the model's
   own expected F1, about 0.5) are linked; connected components are then split by average
   linkage on all their pairwise probabilities (chaining guard, ``clustering``), and every pair
   inside an entity is reported.

Entry points: :func:`dedupe_csv` for files (``csv_files``), :class:`Matcher` /
:class:`PersonRecord` for rows from anywhere else (the customers app feeds it from the database in
``customers/dedupe.py``). Each linked pair comes with an explanation (level and weight per field),
so a user interface can show why two contacts were judged to be the same person.
"""

from guanxi.matching.csv_files import dedupe_csv, read_people_csv
from guanxi.matching.matcher import Matcher
from guanxi.matching.records import FIELDS, PersonRecord

__all__ = ["FIELDS", "Matcher", "PersonRecord", "dedupe_csv", "read_people_csv"]
