"""French text normalisation for identity traits and search (INS rules R17, and INSi's alphabet), and the one rule
for the characters nobody types (issue 13 §4: `clean_text`)."""

from __future__ import annotations

import re
import unicodedata

# Ligatures are not decomposed by NFKD; RNIV transliterates them.
_LIGATURES = str.maketrans({"Æ": "AE", "æ": "AE", "Œ": "OE", "œ": "OE", "ß": "SS"})
# Apostrophe look-alikes typed by users or pasted from documents.
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
# INSi accepts upper-case letters without diacritics, separated by one space, an apostrophe
# or one or two hyphens (padoa/tlsi-ins INSiPerson._isValidName, CNDA test 2.03).
INSI_NAME_RE = re.compile(r"^[A-Z]+(?:(?:-{1,2}|[' ])[A-Z]+)*$")

# Issue 13 §4. Control characters (C0 but tab, line feed and carriage return; DEL; C1), the two non-characters
# U+FFFE/U+FFFF and lone surrogates: invisible, meaningless in a record, refused by PostgreSQL (NUL) or by XML 1.0
# (every C0 but tab/LF/CR), so by every CDA builder. They come from a paste of binary or PDF text, or a forged form.
_CONTROLS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Line breaks other than LF/CR: Word's soft line break (VT), a PDF's page break (FF), NEL. Kept as breaks.
_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": "\n", "\x85": "\n"})
_SINGLE_LINE = str.maketrans({"\t": " ", "\n": " ", "\r": " ", "\x0b": " ", "\x0c": " ", "\x85": " "})


def strip_accents(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.translate(_LIGATURES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize_trait(value: str) -> str:
    """Upper case, no diacritics, single spaces: the form INS traits are stored and sent in."""
    value = strip_accents(value.translate(_APOSTROPHES)).upper()
    return re.sub(r"\s+", " ", value).strip()


def is_insi_compatible(value: str) -> bool:
    return bool(INSI_NAME_RE.match(value))


def ligature_free(value: str) -> bool:
    """True when the raw input had no Æ/Œ: CNDA test 2.03 cas 3 wants those refused, not rewritten."""
    return not any(ch in value for ch in "ÆæŒœ")


def search_key(value: str) -> str:
    """R17: search ignores accents, diacritics, hyphens, apostrophes and spaces."""
    return re.sub(r"[^A-Z0-9]", "", strip_accents(value).upper())


def search_tokens(*values: str) -> set[str]:
    """Every word of every name, normalised for prefix search (R17: any prénom or nom)."""
    tokens: set[str] = set()
    for value in values:
        if not value:
            continue
        words = re.split(r"[\s\-'’]+", strip_accents(value).upper())
        tokens.update(w for w in (search_key(word) for word in words) if w)
        joined = search_key(value)  # "D'ARTAGNAN" also found by "DARTA"
        if joined:
            tokens.add(joined)
    return tokens


def clean_text(value: str, *, multiline: bool = False) -> str:
    """Text as a user meant it, before it is stored or written into a document (issue 13 §4).

    Control characters are removed, NUL included, rather than refused: nobody can see them, so a refusal would
    ask the user to find and delete an invisible character, while the visible text is exactly what they meant.
    A multi-line text keeps its tabs and line breaks (a vertical tab or form feed pasted from Word or a PDF becomes
    a line break); a one-line field turns them into spaces. Nothing else changes: no trimming, no normalisation.
    """
    if multiline:
        return _CONTROLS_RE.sub("", value.translate(_BREAKS))
    return _CONTROLS_RE.sub("", value.translate(_SINGLE_LINE))
