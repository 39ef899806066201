"""`localshang jobs|translate|copy` against a real server process, through `register`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from server.cli import main
from tests.fixtures_jobs import KEYS, ServerProcess, scripted_spec


def localshang(argv: list[str]) -> int:
    return main(argv)


async def test_cli_lists_shows_cancels_downloads_translates_and_writes_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    process = ServerProcess(tmp_path, [scripted_spec("tests.fixtures_jobs:parrot")])
    await process.start()
    monkeypatch.setenv("LOCALSHANG_API_KEY", KEYS["shop-a"])
    server = ["--url", process.url]

    async def cli(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(localshang, [argv[0], *argv[1:], *server])
        out, err = capsys.readouterr()
        return code, out, err

    try:
        code, out, _ = await cli("translate", "Only $12.99, SKU AB-1234.", "--to", "de,fr")
        assert code == 0
        assert out.count("Only $12.99, SKU AB-1234.") == 2 and "-> fr" in out

        code, out, _ = await cli("copy", "--name", "Steel bottle", "--price", "USD 12.99")
        assert code == 0 and json.loads(out)["copies"][0]["title"] == "Steel Bottle"

        code, out, _ = await cli("translate", "Hi there", "--to", "de", "--job")
        job_id = out.strip()
        assert code == 0 and job_id.startswith("job_")
        for _ in range(100):
            code, out, _ = await cli("jobs", "show", job_id, "--json")
            if json.loads(out)["state"] == "succeeded":
                break
            await asyncio.sleep(0.1)
        code, out, _ = await cli("jobs", "show", job_id)
        assert "succeeded" in out and "artifact translation.json" in out

        code, out, _ = await cli("jobs", "ls")
        assert code == 0 and job_id in out and "translation" in out

        target = tmp_path / "de.txt"
        args = ("jobs", "download", job_id, "translation-0.de.txt", "-o", str(target))
        code, out, _ = await cli(*args)
        assert code == 0 and target.read_text() == "Hi there"

        code, out, _ = await cli("jobs", "cancel", job_id)  # a finished job: deleted
        assert code == 0 and out.strip() == f"{job_id}: deleted"
        code, _, err = await cli("jobs", "show", job_id)
        assert code == 1 and "HTTP 404 [job_not_found]" in err

        code, _, err = await cli("translate", "Hi", "--to", "xx")
        assert code == 1 and "Unsupported language 'xx'" in err
        code, _, err = await cli("jobs", "show", "job_missing")
        assert code == 1 and "HTTP 404 [job_not_found]" in err
        monkeypatch.setenv("LOCALSHANG_API_KEY", KEYS["shop-b"])
        code, out, _ = await cli("jobs", "ls", "--json")
        assert json.loads(out)["data"] == []  # the other tenant's CLI sees none of shop-a's jobs
    finally:
        process.stop()
