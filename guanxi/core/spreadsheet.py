"""Cells written to files that spreadsheet programs open (CSV, XLSX): one neutraliser for all.

Excel, WPS and LibreOffice run a cell that starts with "=", "+", "-" or "@" (or a tab or carriage
return before one) as a formula, so a value such as `=HYPERLINK("http://evil","点我")` typed into a
customer's notes, a custom-field label or an import file's header would become a live formula in an
export or an error report (CSV injection). Every such cell, header or data, goes through
`safe_cell`.
"""

from __future__ import annotations

# A cell starting like a formula is written as text (prefixed with an apostrophe).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ...unless it is a plain (signed) number or phone number, which no program runs as a formula.
PLAIN_NUMBER = frozenset("0123456789 +-().,")


def safe_cell(value: str) -> str:
    """The text of a spreadsheet cell that no spreadsheet program runs as a formula."""
    if value and value.startswith(FORMULA_START) and not set(value) <= PLAIN_NUMBER:
        return "'" + value
    return value
