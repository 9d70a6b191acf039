"""Small lxml helpers shared by the CDA builders: the HL7 element maker and typed value writers.

Everything is built with lxml's ElementMaker (never string concatenation), so text is escaped by lxml. Issue 13 §4:
a builder never fails on stored text — `clean_maker` gives makers whose text and attribute values go through
`caducee.core.text.clean_text` first (a control character stored before inputs were cleaned would make lxml raise).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.utils import timezone
from lxml import etree
from lxml.builder import ElementMaker

from caducee.core.text import clean_text
from caducee.documents.cda.codes import NS_HL7, NS_XSI, Code


def _add_text(element: etree._Element, text: str) -> None:
    """lxml.builder's own text rule (after the last child, else as the element's text), on the cleaned text."""
    text = clean_text(text, multiline=True)
    if len(element):
        element[-1].tail = (element[-1].tail or "") + text
    else:
        element.text = (element.text or "") + text


def _set_attributes(element: etree._Element, attributes: dict[str, Any]) -> None:
    for key, value in attributes.items():
        element.set(key, clean_text(value, multiline=True) if isinstance(value, str) else value)


def clean_maker(*, namespace: str, nsmap: dict[str | None, str]) -> ElementMaker:
    """An ElementMaker whose text and attribute values never hold a character XML forbids (issue 13 §4)."""
    return ElementMaker(typemap={str: _add_text, dict: _set_attributes}, namespace=namespace, nsmap=nsmap)


E = clean_maker(namespace=NS_HL7, nsmap={None: NS_HL7, "xsi": NS_XSI})
XSI_TYPE = f"{{{NS_XSI}}}type"

Element = etree._Element

# Deterministic ids for sections and entries (same record entry → same id in every VSM version, which
# lets a receiver reconcile entries); uuid5 namespace chosen once for Caducée.
_NAMESPACE = uuid.UUID("6f1c2d4e-8b1a-5c3e-9d7f-2a4b6c8d0e1f")


def attrs(**values: str | None) -> dict[str, str]:
    """Attribute dict without the None values (so optional attributes are simply left out)."""
    return {key: value for key, value in values.items() if value is not None and value != ""}


def stable_uuid(*parts: object) -> str:
    """An upper-case UUID (a valid II root) derived from the parts."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(part) for part in parts))).upper()


def ii(root: str, extension: str | None = None) -> Element:
    return E.id(attrs(root=root, extension=extension))


def template_ids(roots: Iterable[str]) -> list[Element]:
    return [E.templateId(root=root) for root in roots]


def coded(tag: str, code: Code, *children: Element, xsi_type: str | None = None, name: bool = True) -> Element:
    """A CD/CE/CV element; `name` adds codeSystemName when the source code has one."""
    element = E(
        tag,
        attrs(
            code=code.code,
            displayName=code.display,
            codeSystem=code.system,
            codeSystemName=code.system_name if name else None,
        ),
        *children,
    )
    if xsi_type:
        element.set(XSI_TYPE, xsi_type)
    return element


def reference(target: str) -> Element:
    """`<reference value="#id"/>`: the link from a coded entry to its narrative (CI-SIS originalText rule)."""
    return E.reference(value="#" + target)


def original_text(target: str) -> Element:
    return E.originalText(reference(target))


def ts_datetime(moment: dt.datetime) -> str:
    """TS with seconds and UTC offset in French local time, e.g. 20200312111700+0100."""
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return local.strftime("%Y%m%d%H%M%S%z")


def ts_date(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def ts_partial(iso: str) -> str | None:
    """'YYYY-MM-DD' with 00 for an unknown month/day → the known precision ('1950', '195003', '19500312').

    HL7 TS allows a reduced precision; an all-zero or malformed date gives None (→ nullFlavor UNK).
    """
    parts = (iso or "").split("-")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    year, month, day = parts
    if year == "0000" or len(year) != 4:
        return None
    if month == "00":
        return year
    if day == "00":
        return year + month
    return year + month + day


def number(value: Decimal | float | int) -> str:
    """A REAL/PQ value without exponent or useless trailing zeros (2.500 → 2.5, 10 → 10)."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def ivl_ts(low: str | None, high: str | None = None, *, high_null: str | None = None, **extra: Any) -> Element:
    """effectiveTime (IVL_TS) with `low` (nullFlavor UNK when unknown) and an optional `high`."""
    children = [E.low(value=low) if low else E.low(nullFlavor="UNK")]
    if high:
        children.append(E.high(value=high))
    elif high_null:
        children.append(E.high(nullFlavor=high_null))
    return E.effectiveTime(*children, **extra)
