"""The courier companies a rider picks from when registering.

The stored value is the company's Chinese name (what the city's records use); riders and
staff reading English see the company's own English name. A company typed in by hand is
shown as typed.
"""

from __future__ import annotations

from collections.abc import Callable


def N_(message: str) -> str:  # marks a message for extraction; the domain imports no i18n
    return message


# Chinese name as stored → the English name (a msgid, so Chinese readers get it back).
COMPANIES: dict[str, str] = {
    "美团": N_("Meituan"),
    "饿了么": N_("Ele.me"),
    "顺丰": N_("SF Express"),
    "京东": N_("JD Logistics"),
    "中通": N_("ZTO Express"),
    "圆通": N_("YTO Express"),
    "韵达": N_("Yunda Express"),
    "申通": N_("STO Express"),
    "极兔": N_("J&T Express"),
    "中国邮政": N_("China Post"),
}


def company_label(stored: str, translate: Callable[[str], str]) -> str:
    """How to show a stored company name in the reader's language."""
    english = COMPANIES.get(stored)
    return translate(english) if english is not None else stored
