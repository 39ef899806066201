"""A reasoning model (DeepSeek-R1 distills) over HTTP, its output as it really comes: the prompt
already opens `<think>`, thinking may be cut off by max_tokens, the answer may be empty, and the
thinking drafts the answer in its own language. Chat completions put the thinking in
`reasoning_content`; the workflows give it a thinking budget and never return it as an answer.

The real R1-distill chat template runs on the tiny transformers model; the exact shapes come
from a scripted engine, since no R1 runs here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.spec import ModelSpec
from pipelines.llm import UNFINISHED_THINKING
from tests.fixtures_jobs import JobsClient, auth, scripted_spec
from tests.fixtures_server import assert_error
from tests.pipelines.text.test_copy_api import COPY_EN, PRODUCT

# the "chat_template" of the DeepSeek-R1-Distill-Qwen models' tokenizer_config.json, as published
# since its generation prompt was made to end with "<think>\n"
R1_DISTILL_TEMPLATE = r"""{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\n'}}{% endif %}"""
CHAT = "/v1/chat/completions"
SOURCE = "Only $12.99 for 2 bottles of Yiwu Star, SKU AB-1234."
GOOD_DE = "Nur $12.99 für 2 Flaschen von Yiwu Star, SKU AB-1234."
ZH = "只需$12.99即可购买2瓶Yiwu Star，SKU AB-1234。"
# the thinking drafts the answer, in the answer's language and with its markers
DRAFTING = f"The user wants German. Deutsch: {GOOD_DE} Übersetzung fertig? Antwort:"
ENDLESS = DRAFTING + " Hmm, check the price again." * 60  # never reaches </think>

# what an R1 distill writes after its template's "<think>\n": (output, reasoning, content)
SHAPES = {
    "no opening tag": (f"{DRAFTING}\n</think>\n\n{GOOD_DE}", DRAFTING, GOOD_DE),
    "opening tag of an older template": (
        f"<think>\n{DRAFTING}\n</think>\n\n{GOOD_DE}",
        DRAFTING,
        GOOD_DE,
    ),
    "empty answer": (f"{DRAFTING}\n</think>\n\n", DRAFTING, ""),
    "cut off by max_tokens": (ENDLESS, None, ""),  # reasoning: the first max_tokens words
}


def fake_r1(responder: Any, stats: dict[str, Any], **options: Any) -> ModelSpec:
    return scripted_spec(responder, stats=stats, reasoning_parser="deepseek_r1", **options)


def shape_of(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
    return SHAPES[user][0]


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_chat_completions_put_the_thinking_in_reasoning_content_streamed_or_not(
    jobs_client: JobsClient, shape: str
) -> None:
    output, reasoning, content = SHAPES[shape]
    messages = [{"role": "user", "content": shape}]
    request = {"model": "scripted", "messages": messages, "max_tokens": 40}
    async with jobs_client([fake_r1(shape_of, {})]) as client:
        whole = await client.post(CHAT, json=request, headers=auth("shop-a"))
        streamed = await client.post(CHAT, json=request | {"stream": True}, headers=auth("shop-a"))
    assert whole.status_code == 200, whole.text
    choice = whole.json()["choices"][0]
    if reasoning is None:  # cut off: the thinking it got to, and no answer
        reasoning = " ".join(output.split()[:40])
        assert choice["finish_reason"] == "length"
    message = choice["message"]
    assert (message["reasoning_content"].strip(), message["content"] or "") == (reasoning, content)
    events = [
        json.loads(line[6:]) for line in streamed.text.split("\n\n") if line.startswith("data: {")
    ]
    deltas = [e["choices"][0]["delta"] for e in events]
    assert "".join(d.get("reasoning_content") or "" for d in deltas).strip() == reasoning
    assert "".join(d.get("content") or "" for d in deltas) == content
    assert events[-1]["choices"][0]["finish_reason"] == choice["finish_reason"]


async def test_translation_gives_r1_a_thinking_budget_and_never_returns_its_thinking(
    jobs_client: JobsClient,
) -> None:
    """Attempt 1 is cut off while it thinks (a perfect German draft inside), attempt 2 thinks
    and answers nothing, attempt 3 answers after thinking without an opening tag; the
    back-translation into Chinese thinks in English first."""
    stats: dict[str, Any] = {}
    outputs = [ENDLESS, SHAPES["empty answer"][0], SHAPES["no opening tag"][0]]

    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        return outputs[attempt] if user == SOURCE else f"Chinese, keep the price.\n</think>\n\n{ZH}"

    spec = fake_r1(responder, stats, reasoning_budget_tokens=100)
    async with jobs_client([spec]) as client:
        body = {"text": SOURCE, "target_languages": ["de"], "max_attempts": 3}
        response = await client.post("/v1/translations", json=body, headers=auth("shop-a"))
    assert response.status_code == 200, response.text
    item = response.json()["translations"][0]
    assert (item["status"], item["text"], item["attempts"]) == ("ok", GOOD_DE, 3)
    assert item["back_translation"] == ZH
    for messages, options in stats["calls"]:  # a translation's budget, and 100 to think
        assert options.max_tokens == 3 * len(messages[-1]["content"].split()) + 64 + 100
    retries = [m[0]["content"] for m, _ in stats["calls"] if m[-1]["content"] == SOURCE][1:]
    assert UNFINISHED_THINKING in retries[0] and "empty translation" in retries[1]


async def test_translation_that_only_ever_thinks_fails_clearly_with_no_output(
    jobs_client: JobsClient,
) -> None:
    spec = fake_r1(lambda *_: ENDLESS, {}, reasoning_budget_tokens=16)
    async with jobs_client([spec]) as client:
        body = {"text": SOURCE, "target_languages": ["de"], "max_attempts": 2}
        failed = await client.post("/v1/translations", json=body, headers=auth("shop-a"))
        error = assert_error(failed, 422, "translation_check_failed")
        assert UNFINISHED_THINKING in error["message"]
        reported = await client.post(
            "/v1/translations", json=body | {"on_failure": "report"}, headers=auth("shop-a")
        )
    item = reported.json()["translations"][0]
    assert (item["status"], item["text"]) == ("failed", None)
    assert item["failures"][0]["output"] is None
    assert item["failures"][0]["problems"] == [UNFINISHED_THINKING]
    assert "Nur $12.99" not in failed.text + reported.text  # the draft in its thinking


@pytest.mark.parametrize("guided", [False, True])
async def test_copywriting_lets_r1_think_before_its_json(
    jobs_client: JobsClient, guided: bool
) -> None:
    """Neither the JSON prefill (engines without schemas) nor the JSON schema (engines with):
    either would start the answer where the thinking goes."""
    stats: dict[str, Any] = {}

    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        return f'JSON, "title" first. Title: Yiwu Star\n</think>\n\n{json.dumps(COPY_EN)}'

    async with jobs_client([fake_r1(responder, stats, json_schema=guided)]) as client:
        response = await client.post(
            "/v1/copywriting",
            json={"product": PRODUCT, "target_languages": ["en"]},
            headers=auth("shop-a"),
        )
    assert response.status_code == 200, response.text
    assert response.json()["copies"][0]["title"] == COPY_EN["title"]
    assert stats["prefill"] == "" and stats["calls"][0][1].json_schema is None


async def test_the_r1_distill_template_opens_the_thinking_and_the_tiny_engine_never_answers(
    jobs_client: JobsClient, tiny_chat_spec: ModelSpec
) -> None:
    """The real template on the real transformers engine: the prompt ends inside `<think>`, so
    random weights only ever think; chat shows that as reasoning, translation as no output."""
    options = tiny_chat_spec.options | {
        "chat_template": R1_DISTILL_TEMPLATE,
        "reasoning_parser": "deepseek_r1",
        "reasoning_budget_tokens": 8,
    }
    r1 = tiny_chat_spec.model_copy(update={"id": "tiny-r1", "options": options})
    hello = [{"role": "user", "content": "Write a title for a steel water bottle"}]
    async with jobs_client([r1]) as client:
        tokens = await client.post(
            "/tokenize", json={"model": "tiny-r1", "messages": hello}, headers=auth("shop-a")
        )
        prompt = await client.post(
            "/detokenize",
            json={"model": "tiny-r1", "tokens": tokens.json()["tokens"]},
            headers=auth("shop-a"),
        )
        assert prompt.json()["prompt"].endswith(
            "<｜User｜>" + hello[0]["content"] + "<｜Assistant｜><think>\n"
        )
        chat = await client.post(
            CHAT,
            json={"model": "tiny-r1", "messages": hello, "max_tokens": 6, "seed": 1},
            headers=auth("shop-a"),
        )
        message = chat.json()["choices"][0]["message"]
        assert message["reasoning_content"] and not message["content"]
        translated = await client.post(
            "/v1/translations",
            json={
                "text": SOURCE,
                "target_languages": ["de"],
                "max_attempts": 1,
                "on_failure": "report",
                "seed": 1,
            },
            headers=auth("shop-a"),
        )
    item = translated.json()["translations"][0]
    assert (item["status"], item["failures"][0]["output"]) == ("failed", None)
    assert item["failures"][0]["problems"] == [UNFINISHED_THINKING]
