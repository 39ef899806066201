"""The OpenAPI document states what validation checks: a value the published schema allows gets
past validation, and one it forbids is refused with a 400, so that generated clients, fuzzers
and the server agree. Values at the edges of each stated rule, against the real app."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
import jsonschema
import pytest

from models.spec import ModelSpec
from tests.fixtures_server import AppClient

NO_MODEL = "no-such-model"  # past validation, these requests stop at model_not_found

# (field, value, whether the schema allows it) per operation; each body is a valid one with
# that field changed.
SPEECH = {"model": "espeak", "input": "Hello.", "voice": "en", "response_format": "pcm"}
SPEECH_CASES = [
    ("input", "Hello.", True),
    ("input", "Hel\x00lo\x07.", True),  # controls are dropped, the rest is spoken
    ("input", " \t\n", False),
    ("input", "\x00\x1b\x7f", False),
    ("input", "\u3000\u00a0", False),  # ideographic and no-break spaces
    ("stream_format", "sse", False),
]
TRANSLATION = {"model": NO_MODEL, "text": "Hello", "target_languages": ["de"]}
TRANSLATION_CASES = [
    ("text", ["Hello", "Bye"], True),
    ("text", " \t", False),
    ("text", ["Hello", "\u3000"], False),
    ("text", [], False),
    ("target_languages", ["de", "zh-Hant"], True),
    ("target_languages", ["xx"], False),
    ("source_language", "auto", True),
    ("source_language", "klingon", False),
    ("glossary_entries", [{"term": "Yiwu Star", "translations": {"de": "Yiwu Stern"}}], True),
    ("glossary_entries", [{"term": "Yiwu Star", "translations": {"de": " "}}], False),
    ("glossary_entries", [{"term": "Yiwu Star", "translations": {"xx": "a"}}], False),
]
COPYWRITING = {"model": NO_MODEL, "product": {"name": "Steel bottle"}}
COPYWRITING_CASES = [
    ("preset", "social_short_video", True),
    ("preset", "poster", False),
    ("product", {"name": " \t"}, False),
    ("product", {"name": "Bottle", "materials": ["steel", "  "]}, False),
    ("target_languages", ["fr"], True),
    ("target_languages", ["french!"], False),
]
GLOSSARY_NAMES = [
    ("brand", True),
    ("v1.brand_2-x", True),
    ("brand\n", False),
    ("-brand", False),
    ("b" * 65, False),
]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from server.app import create_app
    from tests.fixtures_server import make_settings

    return create_app(make_settings(tmp_path_factory.mktemp("doc"), [])).openapi()


def allows(document: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    """Whether `schema` (which may point into the document's components) allows `value`."""
    validator = jsonschema.Draft202012Validator({**schema, "components": document["components"]})
    return validator.is_valid(value)


def component(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def body_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][path]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


def passed_validation(response: httpx.Response) -> bool:
    """Spoken (200), or refused only for naming no model: the body itself was valid."""
    if response.status_code == 200:
        return True
    assert response.status_code in (400, 404), response.text
    return bool(response.json()["error"]["code"] == "model_not_found")


async def test_bodies_the_schema_allows_pass_validation_and_the_others_get_400(
    app_client: AppClient, espeak_spec: ModelSpec, document: dict[str, Any]
) -> None:
    operations: list[tuple[str, dict[str, Any], list[tuple[str, Any, bool]]]] = [
        ("/v1/audio/speech", SPEECH, SPEECH_CASES),
        ("/v1/translations", TRANSLATION, TRANSLATION_CASES),
        ("/v1/copywriting", COPYWRITING, COPYWRITING_CASES),
    ]
    async with app_client([espeak_spec]) as client:
        for path, valid, cases in operations:
            schema = body_schema(document, path)
            assert allows(document, schema, valid)
            for field, value, allowed in cases:
                body = {**valid, field: value}
                assert allows(document, schema, body) is allowed, (path, field, value)
                response = await client.post(path, json=body)
                assert passed_validation(response) is allowed, (path, field, value, response.text)


@pytest.mark.parametrize(("name", "allowed"), GLOSSARY_NAMES)
async def test_glossary_names_the_schema_allows_are_the_ones_the_server_takes(
    app_client: AppClient, document: dict[str, Any], name: str, allowed: bool
) -> None:
    put = document["paths"]["/v1/glossaries/{name}"]["put"]
    (parameter,) = put["parameters"]
    assert allows(document, parameter["schema"], name) is allowed
    entries = [{"term": "Yiwu Star", "translations": {"zh": "义乌之星"}}]
    assert allows(document, component("GlossaryPutRequest"), {"entries": entries})
    async with app_client([]) as client:
        path = "/v1/glossaries/" + urllib.parse.quote(name, safe="")
        response = await client.put(path, json={"entries": entries})
    assert (response.status_code == 200) is allowed, response.text
    if not allowed:
        assert response.json()["error"]["code"] == "invalid_glossary_name"


@pytest.mark.parametrize(("name", "allowed"), GLOSSARY_NAMES)
async def test_tenant_names_in_admin_paths_follow_the_stated_pattern(
    app_client: AppClient, document: dict[str, Any], name: str, allowed: bool
) -> None:
    # tenant and glossary names follow the same rule: 1-64 of letters, digits, '.', '_', '-'
    get = document["paths"]["/v1/admin/tenants/{tenant}/quotas"]["get"]
    (parameter,) = get["parameters"]
    assert allows(document, parameter["schema"], name) is allowed
    async with app_client([]) as client:  # no keys: the loopback caller is the admin
        path = f"/v1/admin/tenants/{urllib.parse.quote(name, safe='')}/quotas"
        response = await client.get(path)
    assert (response.status_code == 200) is allowed, response.text
