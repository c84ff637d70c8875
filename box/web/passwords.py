"""What makes a password acceptable: long enough, not the user's name, and not a common password
or a common one with digits or symbols stuck on ("password123", "Qwerty2024!").

The list (box/web/data/common-passwords.txt.gz, 30,000 entries) is read at the first check, not
at import: most processes never change a password.
"""

from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path

MIN_LENGTH = 10
MIN_DISTINCT = 5  # "aaaaaaaaaa", "1212121212" and "abcabcabca" are not passwords
_LIST = Path(__file__).with_name("data") / "common-passwords.txt.gz"
_AFFIXES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


# Common in Chinese password leaks and missing from the (English-based) list above.
CHINESE_COMMON = frozenset(
    "woaini woaini1314 woaini520 5201314 1314520 aini1314 qq123456 a123456 zxc123 "
    "caonima wodemima mima123 zhang wang liu chen yang huang zhao zhou".split()
)


@functools.cache
def common_passwords() -> frozenset[str]:
    return frozenset(gzip.decompress(_LIST.read_bytes()).decode().split()) | CHINESE_COMMON


def password_problem(password: str, name: str = "") -> str:
    """Why ``password`` is refused ("" when it is acceptable); the message names the rule."""
    if len(password) < MIN_LENGTH:
        return f"the password needs at least {MIN_LENGTH} characters"
    lowered = password.lower()
    if name and name.lower() in lowered:
        return "the password must not contain the user name"
    if len(set(lowered)) < MIN_DISTINCT:
        return f"the password needs at least {MIN_DISTINCT} different characters"
    words = common_passwords()
    core = _AFFIXES.sub("", lowered)
    if lowered in words or lowered.replace(" ", "") in words:
        return "this is one of the most common passwords: choose another"
    if core != lowered and (core in words or len(core) < 4):
        return "a common password with digits or symbols added is still easy to guess"
    return ""
