"""Personal data: id-card numbers are checked, then kept only as a salted hash."""

from __future__ import annotations

import hashlib
import hmac

from gisgrid.errors import InvalidInput

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character of an 18-character resident id number.

    Examples
    --------
    >>> id_check_digit("11010519491231002")
    'X'
    """
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def normalise_id_number(number: str, field: str = "id_number") -> str:
    """Upper-case, strip, and check an 18-character id number (digits + check character)."""
    n = number.strip().upper()
    # ASCII digits: '²'.isdigit() is True too, and int('²') fails (gisgrid.numbers)
    if len(n) != 18 or not (n[:17].isascii() and n[:17].isdigit()) or n[17] not in "0123456789X":
        raise InvalidInput("must be 18 characters: 17 digits and a digit or X", field=field)
    if id_check_digit(n[:17]) != n[17]:
        raise InvalidInput("check character does not match (GB 11643)", field=field)
    return n


def hash_id_number(number: str, salt: str) -> str:
    """Salted HMAC-SHA256 of a checked id number, as 64 hex digits.

    Examples
    --------
    >>> h = hash_id_number("11010519491231002X", "s")
    >>> len(h), h == hash_id_number("11010519491231002x ", "s")
    (64, True)
    """
    n = normalise_id_number(number)
    return hmac.new(salt.encode(), n.encode(), hashlib.sha256).hexdigest()
