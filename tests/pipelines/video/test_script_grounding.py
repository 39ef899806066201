"""A keywords script states only what the keywords and facts give: a line with an invented
spec is retried once with the finding named, and if the model insists, it is never voiced.
(The model's slip is scripted: no real model invents a spec on cue.)"""

import json
from typing import Any

from pipelines.languages import load_languages
from pipelines.video.script import ScriptRequest, write_script
from tests.fixtures_jobs import ScriptedChat

REQUEST = ScriptRequest(
    keywords=("不锈钢保温杯", "500毫升", "保冷24小时"),
    product_facts="",
    transcript="",
    duration_s=12.0,
)
INVENTED = ["Stainless steel, 500 ml.", "A 24-month shelf life!", "Cold for 24 hours."]


async def test_a_line_with_an_invented_spec_is_retried_then_dropped() -> None:
    stats: dict[str, Any] = {}
    answer = json.dumps({"lines": INVENTED})
    chat = ScriptedChat({"responder": lambda *_: answer, "json_schema": True, "stats": stats})
    lines, report = await write_script(chat, REQUEST, load_languages().get("en"))
    assert [line.text for line in lines] == [INVENTED[0], INVENTED[2]]
    assert report["source"] == "llm" and report["attempts"] == 2
    assert [(u["line"], u["fact"]) for u in report["ungrounded"]] == [
        (INVENTED[1], "24-month"),
        (INVENTED[1], "shelf life"),
    ]
    first, retry = (messages[-1]["content"] for messages, _ in stats["calls"])
    assert "shelf life" not in first and "'24-month', 'shelf life'" in retry


async def test_a_grounded_retry_is_voiced_whole() -> None:
    grounded = [INVENTED[0], "Keeps drinks cold.", INVENTED[2]]

    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        told = "shelf life" in user  # the retry was told what it made up
        return json.dumps({"lines": grounded if told else INVENTED})

    chat = ScriptedChat({"responder": responder, "json_schema": True})
    lines, report = await write_script(chat, REQUEST, load_languages().get("en"))
    assert [line.text for line in lines] == grounded and report["ungrounded"] == []
