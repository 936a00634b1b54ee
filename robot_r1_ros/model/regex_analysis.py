"""Static analysis of the answer-grammar regexes (standard library only): the longest match,
the characters a match can contain, and whether all digits are interchangeable. The constraint
(:mod:`robot_r1_ros.model.constrained`) uses them to size budgets, pick candidate tokens and
fold grammar states; the remote request (:mod:`robot_r1_ros.model.remote_request`) to size
``max_tokens``."""
from __future__ import annotations

import re
from typing import Any, Iterable

try:  # Python 3.11+
    import re._parser as _sre_parse  # type: ignore[import-not-found]
    from re._constants import MAXREPEAT as _MAXREPEAT  # type: ignore[import-not-found]
except ImportError:  # Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]
    from sre_constants import MAXREPEAT as _MAXREPEAT  # type: ignore[no-redef]


def regex_width(pattern: str) -> tuple[int, int | None]:
    """(min, max) length in characters of the strings ``pattern`` matches; max None = unbounded."""
    lo, hi = _sre_parse.parse(pattern).getwidth()
    return int(lo), (None if hi >= _MAXREPEAT else int(hi))


_ASCII_CATEGORIES = {
    'CATEGORY_DIGIT': '0123456789',
    'CATEGORY_WORD': '0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
    'CATEGORY_SPACE': ' \t\n\r\f\v',
}


def regex_alphabet(pattern: str) -> frozenset[str] | None:
    """The characters that can occur in a match of ``pattern`` (ASCII classes), or None when it
    cannot be bounded (``.``, negated classes, back-references...)."""
    chars: set[str] = set()

    def walk(items: Iterable[Any]) -> bool:
        for op, arg in items:
            name = str(op)
            if name == 'LITERAL':
                chars.add(chr(arg))
            elif name == 'IN':
                for sub_op, sub_arg in arg:
                    sub = str(sub_op)
                    if sub == 'LITERAL':
                        chars.add(chr(sub_arg))
                    elif sub == 'RANGE':
                        chars.update(chr(c) for c in range(sub_arg[0], sub_arg[1] + 1))
                    elif sub == 'CATEGORY' and str(sub_arg) in _ASCII_CATEGORIES:
                        chars.update(_ASCII_CATEGORIES[str(sub_arg)])
                    else:
                        return False
            elif name in ('MAX_REPEAT', 'MIN_REPEAT', 'POSSESSIVE_REPEAT'):
                if not walk(arg[2]):
                    return False
            elif name == 'SUBPATTERN':
                if not walk(arg[-1]):
                    return False
            elif name == 'ATOMIC_GROUP':
                if not walk(arg):
                    return False
            elif name == 'BRANCH':
                if not all(walk(branch) for branch in arg[1]):
                    return False
            elif name == 'AT':
                continue
            else:
                return False
        return True

    return frozenset(chars) if walk(_sre_parse.parse(pattern)) else None


def _digits_uniform(pattern: str) -> bool:
    """True when no digit appears in ``pattern`` except in quantifiers and ``0-9`` ranges, so
    all digits are interchangeable for prefix validity (lets masks be cached per shape)."""
    stripped = re.sub(r'\{\d*,?\d*\}|0-9', '', pattern)
    return not re.search(r'[0-9]', stripped)
