"""URL converters. `<id:pk>` is `<int:pk>` limited to 18 digits: larger numbers cannot be a row id
(BIGINT) and would overflow the database driver (a 500) instead of giving a 404."""

MAX_ID = 2**63 - 1


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))


def as_int(value, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """An integer typed into a request (GET/POST parameter, header), or None when it is not one.

    Every int a view parses from a request goes through here (or `as_id`): `int()` on request data
    raised ValueError for "abc", and `"²".isdigit()` is True although `int("²")` fails (500s)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        digits = text.removeprefix("-")
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
            return None
        number = int(text)
    else:
        return None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        return None
    return number


def as_id(value) -> int | None:
    """A positive row id from user input, or None when it cannot be one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 19:
        number = int(value.strip())
    else:
        return None
    return number if 0 < number <= MAX_ID else None
