"""POST /v1/embeddings on the real multilingual-e5-small: OpenAI's shapes, cross-lingual search, limits."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

from models.spec import ModelSpec
from pipelines.settings import DEFAULT_CONFIG, load_settings
from server.app import create_app
from tests import netguard
from tests.fixtures_server import AppClient, make_settings
from tests.live import live_server

pytestmark = pytest.mark.real_weights

BOTTLE_EN = "stainless steel water bottle, 500 ml, leak-proof"
LISTINGS_ZH = [
    "竹制牙刷，四支装，可降解",
    "不锈钢保温水瓶，500毫升，防漏",
    "无线蓝牙耳机，降噪，续航30小时",
    "儿童雨衣，带反光条",
    "硅胶手机壳，适用于iPhone 15",
]


@pytest.fixture(scope="module")
def e5_spec(e5_dir: Path) -> ModelSpec:
    """The embedding entry of the shipped default config, pointed at the fetched weights."""
    (spec,) = [s for s in load_settings(DEFAULT_CONFIG).models if s.kind == "embedding"]
    return spec.model_copy(update={"path": str(e5_dir)})


def _vectors(body: dict[str, Any]) -> np.ndarray:
    rows = sorted(body["data"], key=lambda d: d["index"])
    return np.array(
        [
            np.frombuffer(base64.b64decode(r["embedding"]), dtype="<f4")
            if isinstance(r["embedding"], str)
            else r["embedding"]
            for r in rows
        ],
        dtype=np.float32,
    )


async def test_float_and_base64_answers_decode_to_the_same_unit_vectors(
    app_client: AppClient, e5_spec: ModelSpec
) -> None:
    async with app_client([e5_spec]) as client:
        request = {"model": "text-embedding-3-small", "input": ["bamboo toothbrush", "竹制牙刷"]}
        floats = await client.post("/v1/embeddings", json=request)
        packed = await client.post("/v1/embeddings", json=request | {"encoding_format": "base64"})
        assert floats.status_code == 200 and packed.status_code == 200, floats.text + packed.text
        body = floats.json()
        assert body["object"] == "list" and body["model"] == "text-embedding-3-small"
        assert [(d["object"], d["index"]) for d in body["data"]] == [
            ("embedding", 0),
            ("embedding", 1),
        ]
        assert all(isinstance(d["embedding"], str) for d in packed.json()["data"])
        vectors = _vectors(body)
        assert vectors.shape == (2, 384)
        np.testing.assert_array_equal(vectors, _vectors(packed.json()))
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        usage = body["usage"]
        assert usage["prompt_tokens"] == usage["total_tokens"] > 4
        assert packed.json()["usage"] == usage

        exact = await client.post("/v1/embeddings", json=request | {"dimensions": 384})
        assert exact.status_code == 200

        models = {m["id"]: m for m in (await client.get("/v1/models")).json()["data"]}
        card = models["multilingual-e5-small"]
        assert card["kind"] == "embedding" and card["licence"] == "MIT"
        assert {"text-embedding-3-small", "text-embedding-ada-002"} <= set(card["aliases"])


async def test_an_english_product_query_ranks_its_chinese_listing_first(
    app_client: AppClient, e5_spec: ModelSpec
) -> None:
    async with app_client([e5_spec]) as client:
        query = await client.post(
            "/v1/embeddings",
            json={"model": "multilingual-e5-small", "input": BOTTLE_EN, "input_type": "query"},
        )
        listings = await client.post(
            "/v1/embeddings",
            json={"model": "multilingual-e5-small", "input": LISTINGS_ZH, "input_type": "passage"},
        )
        assert query.status_code == 200 and listings.status_code == 200
        scores = _vectors(listings.json()) @ _vectors(query.json())[0]
        assert int(np.argmax(scores)) == 1, scores
        # and with e5's own prefixes in plain text, as a client with no extension sends them
        prefixed = await client.post(
            "/v1/embeddings",
            json={
                "model": "text-embedding-ada-002",
                "input": [f"query: {BOTTLE_EN}", *(f"passage: {t}" for t in LISTINGS_ZH)],
            },
        )
        vectors = _vectors(prefixed.json())
        np.testing.assert_allclose(vectors[0], _vectors(query.json())[0], atol=1e-5)
        np.testing.assert_allclose(vectors[1:], _vectors(listings.json()), atol=1e-5)


async def test_a_batch_answers_in_input_order_the_vectors_each_text_gets_alone(
    app_client: AppClient, e5_spec: ModelSpec
) -> None:
    texts = ["passage: 儿童雨衣", "wireless earbuds", "query: 竹制牙刷", "silicone phone case"]
    async with app_client([e5_spec]) as client:
        batch = await client.post(
            "/v1/embeddings", json={"model": "multilingual-e5-small", "input": texts}
        )
        assert batch.status_code == 200
        alone = [
            (
                await client.post(
                    "/v1/embeddings", json={"model": "multilingual-e5-small", "input": text}
                )
            ).json()
            for text in texts
        ]
        np.testing.assert_allclose(
            _vectors(batch.json()), np.concatenate([_vectors(a) for a in alone]), atol=1e-5
        )
        assert batch.json()["usage"]["prompt_tokens"] == sum(
            a["usage"]["prompt_tokens"] for a in alone
        )


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["bottle", ""]}, "input"),
        ({"input": [3, 5, 8]}, "input"),  # token ids: this model takes text
        ({"input": [[3, 5], [8]]}, "input"),
        ({"input": ["bottle", 5]}, "input"),
        ({"input": {"text": "bottle"}}, "input"),
        ({"input": "bottle " * 600}, "input"),  # over the 512-token context
        ({"input": ["a", "b", "c", "d", "e"]}, "input"),  # over max_inputs (4 here)
        ({"encoding_format": "hex"}, "encoding_format"),
        ({"dimensions": 256}, "dimensions"),  # e5 cannot be shortened honestly
        ({"dimensions": 0}, "dimensions"),
        ({"input_type": "title"}, "input_type"),
    ],
)
async def test_bad_inputs_get_an_openai_style_400(
    app_client: AppClient, e5_spec: ModelSpec, change: dict[str, Any], param: str
) -> None:
    limited = e5_spec.model_copy(update={"options": e5_spec.options | {"max_inputs": 4}})
    async with app_client([limited]) as client:
        r = await client.post(
            "/v1/embeddings", json={"model": "multilingual-e5-small", "input": "bottle"} | change
        )
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert error["message"]


async def test_text_the_c_engine_cannot_read_as_is_still_gets_its_own_vector(
    app_client: AppClient, e5_spec: ModelSpec
) -> None:
    """JSON allows a NUL (which would cut a C string short) and a lone surrogate (no UTF-8)."""
    body = (
        r'{"model": "multilingual-e5-small", "input": '
        r'["bottle\u0000 with a bamboo lid", "bottle", "bottle \ud800 lid", "\u0000"]}'
    )
    async with app_client([e5_spec]) as client:
        r = await client.post(
            "/v1/embeddings", content=body, headers={"Content-Type": "application/json"}
        )
    assert r.status_code == 200, r.text
    vectors = _vectors(r.json())
    assert vectors.shape == (4, 384) and float(vectors[0] @ vectors[1]) < 0.99


async def test_an_unknown_model_is_a_404(app_client: AppClient, e5_spec: ModelSpec) -> None:
    async with app_client([e5_spec]) as client:
        r = await client.post("/v1/embeddings", json={"model": "nope", "input": "bottle"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    assert "multilingual-e5-small" in r.json()["error"]["message"]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, e5_spec: ModelSpec) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("live-e5"), [e5_spec])
    with live_server(create_app(settings)) as url:
        yield url


def test_the_official_openai_client_embeds_and_sees_openai_errors(base_url: str) -> None:
    netguard.connects.clear()
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)
    texts = [BOTTLE_EN, *LISTINGS_ZH]
    default = client.embeddings.create(model="text-embedding-3-small", input=texts)
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )
    assert [d.index for d in default.data] == list(range(len(texts)))
    np.testing.assert_array_equal(
        np.array([d.embedding for d in default.data], dtype=np.float32),
        np.array([d.embedding for d in floats.data], dtype=np.float32),
    )
    assert default.usage.prompt_tokens == floats.usage.total_tokens > len(texts)
    vectors = np.array([d.embedding for d in floats.data])
    assert int(np.argmax(vectors[1:] @ vectors[0])) == 1  # symmetric ("query: ") use works too

    with pytest.raises(openai.BadRequestError) as empty:
        client.embeddings.create(model="text-embedding-3-small", input="")
    assert empty.value.status_code == 400
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3]])
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-large", input="bottle")
    assert not [a for a in netguard.connects if not netguard.is_loopback(a[0])]
