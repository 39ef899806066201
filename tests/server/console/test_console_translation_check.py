"""The translate page shows what each translation says back in Chinese, and checks an edited
translation line by line (POST /translate/check), in the viewer's language.

The scripted chat model translates and back-translates as a careful reader would; meaning is
compared by the real multilingual-e5 of the embedded default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pipelines.settings import DEFAULT_CONFIG, load_settings
from tests.fixtures_console import sign_in
from tests.fixtures_jobs import KEYS, build_app, job_test_settings, scripted_spec, serve_in_process
from tests.server.console.test_console_text import Console, card

pytestmark = pytest.mark.real_weights

SOURCE = "不锈钢保温杯，保冷24小时。"
# what the scripted model answers, by the text it is given
ANSWERS = {
    SOURCE: "Stainless steel cup, keeps drinks cold for 24 hours.",
    "Stainless steel cup, keeps drinks cold for 24 hours.": "不锈钢杯，可保冷24小时。",
    "Stainless steel cup, does not keep drinks cold for 24 hours.": "不锈钢杯，不能保冷24小时。",
}


def answer(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
    return ANSWERS[user]


@pytest_asyncio.fixture
async def page(tmp_path: Path, e5_dir: Path) -> AsyncIterator[Console]:
    (e5,) = [s for s in load_settings(DEFAULT_CONFIG).models if s.kind == "embedding"]
    specs = [scripted_spec(answer), e5.model_copy(update={"path": str(e5_dir)})]
    async with serve_in_process(build_app(job_test_settings(tmp_path, specs))) as client:
        yield Console(client, await sign_in(client, KEYS["shop-a"], "/translate"))


async def test_each_translation_shows_what_it_says_back_and_a_form_to_check_an_edit(
    page: Console,
) -> None:
    shown = await page.post("/translate", {"text": SOURCE, "target_languages": ["en"]})
    assert shown.status_code == 200, shown.text
    english = card(shown.text, "translation-en")
    assert 'id="back-translation-en" lang="zh">不锈钢杯，可保冷24小时。<' in english
    assert 'hx-post="/translate/check"' in english
    assert f'name="source" value="{SOURCE}"' in english
    assert 'name="target_language" value="en"' in english


async def test_an_edited_line_that_negates_its_source_is_shown_failed_with_why_in_chinese(
    page: Console,
) -> None:
    form = {
        "source": SOURCE,
        "source_language": "zh",
        "target_language": "en",
        "translation": "Stainless steel cup, does not keep drinks cold for 24 hours.",
    }
    fragment = await page.post("/translate/check", form, locale="zh")
    whole = await page.post("/translate/check", form, htmx=False)
    assert fragment.status_code == whole.status_code == 200, fragment.text
    assert "<html" not in fragment.text and "<html" in whole.text
    assert 'data-verdict="fail"' in fragment.text
    assert "意思是： 不锈钢杯，不能保冷24小时。" in fragment.text  # what the buyer will read
    assert 'data-finding="polarity_flip"' in fragment.text and "肯定与否定相反" in fragment.text
    assert "Negated on one side only" in whole.text  # the English viewer's words


async def test_a_faithful_edit_passes_and_too_long_a_text_is_explained(page: Console) -> None:
    form = {"source": SOURCE, "target_language": "en", "translation": ANSWERS[SOURCE]}
    passed = await page.post("/translate/check", form, locale="zh")
    assert 'data-verdict="pass"' in passed.text and "通过" in passed.text, passed.text
    refused = await page.post(
        "/translate/check", {**form, "translation": "Cup.\n" * 49}, locale="zh"
    )
    assert refused.status_code == 400
    assert 'data-code="too_many_lines"' in refused.text and "文本行数过多" in refused.text
