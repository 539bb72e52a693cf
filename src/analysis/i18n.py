"""Text and numbers in the report language: a gettext catalog (Babel) and locale formats.

The source language is Bokmål: every text is written once, in Bokmål, in the notebooks
(markdown cells and ``_("...")`` calls) or the library (``_("...")``). English comes from the
message catalog ``locale/en/LC_MESSAGES/messages.po``; ``scripts/i18n_extract.py`` adds new
messages to it and a test fails while any message lacks a translation.

Numbers are formatted by Babel in the report's locale (``nb_NO``: decimal comma, a
non-breaking space as thousands separator and before "%"; ``en_GB``: decimal point).

>>> _ = Lang("en")
>>> _.pct(0.684)
'68%'
"""

from __future__ import annotations

import copy
import math
from functools import cache
from pathlib import Path

LANGUAGES: dict[str, str] = {"nb": "nb_NO", "en": "en_GB"}
SOURCE_LANGUAGE = "nb"
LOCALE_DIR: Path = Path(__file__).parent / "locale"
DOMAIN = "messages"
MISSING = "–"  # en dash: a value that does not exist (not the same as a suppressed value)


def N_(message: str) -> str:
    """Mark a Bokmål text for translation where it is defined; translate it where it is shown."""
    return message


def po_path(lang: str) -> Path:
    """The catalog file of ``lang``."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalog(lang: str) -> dict[str, str]:
    """msgid -> translation for ``lang`` (empty for the source language)."""
    if lang == SOURCE_LANGUAGE:
        return {}
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as fh:
        cat = read_po(fh, locale=LANGUAGES[lang])
    return {m.id: m.string for m in cat if m.id and m.string and not m.fuzzy}


def check_language(lang: str) -> str:
    """Return ``lang`` if supported, else raise a clear error."""
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {sorted(LANGUAGES)}, not {lang!r}")
    return lang


class Lang:
    """Translator and number formatter of one report language.

    ``_ = Lang("nb")``; ``_("Andel")`` translates, ``_("{n} svar", n=3)`` translates then
    fills in; ``_.num``, ``_.pct``, ``_.ci`` format numbers.
    """

    def __init__(self, lang: str = SOURCE_LANGUAGE) -> None:
        from babel import Locale

        self.lang = check_language(lang)
        self.locale = Locale.parse(LANGUAGES[lang])

    def __repr__(self) -> str:
        return f"Lang({self.lang!r})"

    def __call__(self, message: str, **values: object) -> str:
        text = catalog(self.lang).get(message, message)
        return text.format(**values) if values else text

    def num(self, x: float | None, decimals: int = 1) -> str:
        """A number with ``decimals`` decimals; '–' when missing."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return MISSING
        pattern = copy.copy(self.locale.decimal_formats[None])
        pattern.frac_prec = (decimals, decimals)
        return pattern.apply(x, self.locale)

    def pct(self, x: float | None, decimals: int = 0) -> str:
        """A proportion as a percentage: 0.684 -> '68 %' (nb) or '68%' (en)."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return MISSING
        pattern = copy.copy(self.locale.percent_formats[None])
        pattern.frac_prec = (decimals, decimals)
        return pattern.apply(x, self.locale)

    def pp(self, x: float | None, decimals: int = 0) -> str:
        """A difference of proportions in percentage points: 0.021 -> '2 p.p.'."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return MISSING
        return self(N_("{value} p.p."), value=self.num(100 * x, decimals))

    def ci(self, lo: float | None, hi: float | None, decimals: int = 0, unit: str = "pct") -> str:
        """An interval in one unit: '[58 %; 79 %]' (nb) or '[58%, 79%]' (en).

        ``unit``: ``pct`` (proportions shown as %), ``pp`` (percentage points, the unit stated
        once after the bracket) or ``num`` (plain numbers).
        """
        if (
            lo is None
            or hi is None
            or any(isinstance(v, float) and math.isnan(v) for v in (lo, hi))
        ):
            return MISSING
        if unit == "pct":
            return self.bracket(self.pct(lo, decimals), self.pct(hi, decimals))
        if unit == "pp":
            inner = self.bracket(self.num(100 * lo, decimals), self.num(100 * hi, decimals))
            return self(N_("{value} p.p."), value=inner).replace("] ", "]\xa0")
        return self.bracket(self.num(lo, decimals), self.num(hi, decimals))

    def bracket(self, lo: str, hi: str) -> str:
        """Two formatted bounds as '[lo; hi]' (nb) or '[lo, hi]' (en), joined by a no-break
        space: an interval never breaks across lines."""
        sep = self(N_("; ")).replace(" ", "\xa0")
        return f"[{lo}{sep}{hi}]"

    def join(self, items: list[str]) -> str:
        """'a, b og c' (nb) or 'a, b and c' (en)."""
        from babel.lists import format_list

        return format_list(list(items), locale=self.locale)


def decimals_for(se: float | None, unit: float = 1.0, most: int = 3) -> int:
    """Decimals that show an estimate to the precision its standard error supports.

    One decimal place finer than the first significant digit of ``se * unit`` (``unit`` 100
    for percentages), between 0 and ``most``.
    """
    if se is None or not math.isfinite(se) or se <= 0:
        return 0
    return int(min(most, max(0, -math.floor(math.log10(se * unit)))))


def decimals_off_zero(*values: float, unit: float = 100.0, start: int = 0, most: int = 2) -> int:
    """Decimals (at least ``start``) with which no non-zero value rounds to zero, so that an
    interval bound of 0,4 is not shown as 0 beside a verdict that it is above zero."""
    dec = start
    while dec < most and any(
        v is not None and math.isfinite(v) and v != 0 and abs(v * unit) < 0.5 * 10.0**-dec
        for v in values
    ):
        dec += 1
    return dec
