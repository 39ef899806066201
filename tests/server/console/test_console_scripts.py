"""The console's stylesheet draws every script a merchant sells in with a font made for it.

Chromium itself says which installed fonts drew a line (DevTools' CSS.getPlatformFontsForNode):
right-to-left, joined and mark-stacking scripts must come from their Noto family, not from a
system font's stopgap or a fallback box.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_browser import GuardedPage

CONSOLE_CSS = Path(__file__).parents[3] / "server" / "static" / "console" / "console.css"
LINES = {  # lang: (a product line, the family that must draw it)
    "ar": ("زجاجة ماء باردة", "Noto Sans Arabic"),
    "fa": ("بطری آب سرد", "Noto Sans Arabic"),
    "he": ("בקבוק מים קרים", "Noto Sans Hebrew"),
    "th": ("น้ำดื่มเย็น ที่นี่", "Noto Sans Thai"),
    "hi": ("मिट्टी की बोतल", "Noto Sans Devanagari"),
    "bn": ("ঠান্ডা জলের বোতল", "Noto Sans Bengali"),
    "km": ("ដបទឹកត្រជាក់", "Noto Sans Khmer"),
    "my": ("ရေအေးဘူး", "Noto Sans Myanmar"),
}


@pytest.mark.asyncio(loop_scope="session")
async def test_each_script_is_drawn_in_its_noto_font(offline_page: GuardedPage) -> None:
    page = offline_page.page
    paragraphs = "".join(
        f'<p id="line-{lang}" lang="{lang}" dir="auto">{text}</p>'
        for lang, (text, _) in LINES.items()
    )
    await page.set_content(
        f"<!doctype html><html lang='en'><style>{CONSOLE_CSS.read_text()}</style>"
        f"<main>{paragraphs}</main></html>"
    )
    devtools = await page.context.new_cdp_session(page)
    await devtools.send("DOM.enable")
    await devtools.send("CSS.enable")
    root = (await devtools.send("DOM.getDocument"))["root"]["nodeId"]
    for lang, (text, family) in LINES.items():
        node = await devtools.send(
            "DOM.querySelector", {"nodeId": root, "selector": f"#line-{lang}"}
        )
        fonts = await devtools.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
        drawn = {font["familyName"]: font["glyphCount"] for font in fonts["fonts"]}
        # the spaces between words may come from the page's main font, every letter from the
        # script's own
        assert family in drawn and sum(drawn.values()) - drawn[family] <= text.count(" "), (
            lang,
            drawn,
        )
    rtl = await page.eval_on_selector("#line-ar", "e => getComputedStyle(e).direction")
    assert rtl == "rtl"  # dir=auto, as the console's editable lines have
    assert offline_page.console_errors == []
