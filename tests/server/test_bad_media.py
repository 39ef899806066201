"""Malformed uploads to /v1/audio/transcriptions and /v1/video/dubbings, over the real app.

Every one gets a 400 whose code says what is wrong, fast, never a 5xx; nothing is left on disk
(data folder, upload staging, temporary files); and files that name other files or URLs (ffconcat
lists, HLS playlists, SDP stream descriptions) are refused without FFmpeg opening anything they
name. The test suite's audit hook cannot see FFmpeg's own sockets (C code, subprocesses), so a
loopback tripwire counts connects instead.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from models.spec import ModelSpec
from pipelines.platform.uploads import uploads_dir
from server.app import create_app
from tests.fixtures_server import make_settings, running
from tests.fixtures_video import make_clip

pytestmark = pytest.mark.asyncio(loop_scope="session")

TRANSCRIBE = "/v1/audio/transcriptions"
DUB = "/v1/video/dubbings"
MAX_UPLOAD = 4 * 1024 * 1024
# An SDP file used to make FFmpeg wait for RTP on a UDP port for 20 s; refused, it is instant.
ANSWER_WITHIN_S = 10.0

# case -> (code from transcriptions, code from dubbings); None: a usable input there.
CASES: dict[str, tuple[str | None, str]] = {
    "zero_bytes": ("invalid_audio", "invalid_video"),
    "random_bytes": ("invalid_audio", "invalid_video"),
    "text": ("invalid_audio", "invalid_video"),
    "truncated": ("invalid_audio", "invalid_video"),
    "png_as_mp4": ("invalid_audio", "invalid_video"),
    "huge_frame": ("no_audio_stream", "video_limits_exceeded"),
    "zero_seconds": ("no_audio_stream", "no_video_stream"),
    "audio_only": (None, "no_video_stream"),
    "subtitles_only": ("no_audio_stream", "no_video_stream"),
    "broken_mjpeg": ("no_audio_stream", "invalid_video"),
    "playlist": ("invalid_audio", "invalid_video"),
    "concat_local": ("invalid_audio", "invalid_video"),
    "hls_url": ("invalid_audio", "invalid_video"),
    "concat_url": ("invalid_audio", "invalid_video"),
    "sdp_rtp": ("invalid_audio", "invalid_video"),
}


class Tripwire:
    """A loopback TCP listener that counts every connection made to it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.connects = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connects += 1
            conn.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def tripwire() -> Iterator[Tripwire]:
    wire = Tripwire()
    yield wire
    wire.close()


@pytest.fixture(scope="module")
def corpus(
    bad_media: dict[str, Path], tripwire: Tripwire, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """bad_media plus the files that point at the tripwire (its port is only known now)."""
    root = tmp_path_factory.mktemp("network_media")
    url = f"http://127.0.0.1:{tripwire.port}/segment.ts"
    texts = {
        "hls_url": (
            "stream.m3u8",
            f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{url}\n#EXT-X-ENDLIST\n",
        ),
        "concat_url": ("list.mp4", f"ffconcat version 1.0\nfile '{url}'\n"),
        "sdp_rtp": (
            "stream.sdp",
            "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=clip\nc=IN IP4 127.0.0.1\nt=0 0\n"
            f"m=audio {tripwire.port} RTP/AVP 0\n",
        ),
    }
    made = dict(bad_media)
    for case, (name, text) in texts.items():
        made[case] = root / name
        made[case].write_text(text)
    return made


@pytest.fixture(scope="module")
def spool_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the form parser spools uploads (tempfile's folder), watched for leftovers."""
    folder = tmp_path_factory.mktemp("spool")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(folder))
        yield folder


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(
    tmp_path_factory: pytest.TempPathFactory,
    video_model_specs: list[ModelSpec],
    spool_dir: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        tmp_path_factory.mktemp("bad_media_api"), video_model_specs, max_upload_bytes=MAX_UPLOAD
    )
    async with running(create_app(settings)) as c:
        c.headers["x-data-dir"] = str(settings.data_dir)  # for the tests' own checks only
        yield c


def _data_dir(client: httpx.AsyncClient) -> Path:
    return Path(client.headers["x-data-dir"])


def _leftovers(client: httpx.AsyncClient, spool: Path) -> set[Path]:
    """Staged uploads (finished or `.incoming-*`), job folders, spooled temporary files."""
    data = _data_dir(client)
    places = [uploads_dir(data), data / "jobs", spool]
    return {p for place in places if place.is_dir() for p in place.iterdir()}


async def _send(
    client: httpx.AsyncClient, path: str, upload: Path, name: str | None = None, **fields: str
) -> httpx.Response:
    form = {"model": "tiny-whisper"} if path == TRANSCRIBE else {"languages": "en"}
    with upload.open("rb") as file:
        return await client.post(
            path,
            data={**form, **fields},
            files={"file": (name or upload.name, file, "application/octet-stream")},
        )


@pytest.mark.parametrize("endpoint", [TRANSCRIBE, DUB])
@pytest.mark.parametrize("case", list(CASES))
async def test_malformed_media_gets_a_fast_400_with_its_code_and_leaves_nothing(
    client: httpx.AsyncClient,
    corpus: dict[str, Path],
    tripwire: Tripwire,
    spool_dir: Path,
    endpoint: str,
    case: str,
) -> None:
    code = CASES[case][0 if endpoint == TRANSCRIBE else 1]
    if code is None:
        pytest.skip(f"{case} is a usable input for {endpoint}")
    before = _leftovers(client, spool_dir)
    started = time.monotonic()
    response = await _send(client, endpoint, corpus[case])
    elapsed = time.monotonic() - started
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, "file"), error
    assert error["type"] == "invalid_request_error" and error["message"]
    assert elapsed < ANSWER_WITHIN_S, f"{case} took {elapsed:.1f} s"
    assert tripwire.connects == 0
    assert _leftovers(client, spool_dir) == before


async def test_files_naming_other_files_or_urls_are_refused_as_such(
    client: httpx.AsyncClient, corpus: dict[str, Path]
) -> None:
    for case in ("concat_local", "concat_url", "sdp_rtp"):
        error = (await _send(client, TRANSCRIBE, corpus[case])).json()["error"]
        assert "stream descriptions are refused" in error["message"], error
        assert "/etc/passwd" not in error["message"]


# --- what the upload path does with names, types and sizes -----------------------------------
@pytest.fixture(scope="module")
def good_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 1.5 s silent clip (a valid dubbing upload) and a 1 s tone (a valid transcription)."""
    root = tmp_path_factory.mktemp("good_media")
    tone = root / "tone.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=1", str(tone)],
        check=True,
        timeout=60,
    )
    return {"clip": make_clip(root / "clip.mp4", seconds=1.5, size=(96, 64)), "tone": tone}


async def test_a_path_as_filename_is_never_used_as_a_path(
    client: httpx.AsyncClient, good_media: dict[str, Path]
) -> None:
    data = _data_dir(client)
    before = {p for p in data.parent.rglob("*")}
    evil = "../../../etc/passwd"
    speech = await _send(client, TRANSCRIBE, good_media["tone"], name=evil)
    assert speech.status_code == 200, speech.text
    response = await _send(client, DUB, good_media["clip"], name=evil, keywords="bottle")
    assert response.status_code == 200, response.text
    job = response.json()
    assert "passwd" not in str(job["input"])
    # the server named everything it wrote, and wrote only inside its data folder
    assert not [p for p in data.parent.rglob("*passwd*")]
    # one listing: the job moves its upload on while the test looks, so two listings can differ
    written = {p for p in data.parent.rglob("*")} - before
    assert all(p.is_relative_to(data) for p in written), written
    cancelled = await client.delete(f"/v1/jobs/{job['id']}")
    assert cancelled.status_code == 200, cancelled.text


async def test_the_media_type_comes_from_the_content_not_the_name_or_header(
    client: httpx.AsyncClient, good_media: dict[str, Path], corpus: dict[str, Path]
) -> None:
    with good_media["tone"].open("rb") as file:
        speech = await client.post(
            TRANSCRIBE,
            data={"model": "tiny-whisper"},
            files={"file": ("photo.png", file, "image/png")},
        )
    assert speech.status_code == 200, speech.text
    with corpus["png_as_mp4"].open("rb") as file:
        fake = await client.post(
            DUB, data={"languages": "en"}, files={"file": ("clip.mp4", file, "video/mp4")}
        )
    assert fake.json()["error"]["code"] == "invalid_video"


@pytest.mark.parametrize("endpoint", [TRANSCRIBE, DUB])
async def test_an_upload_past_the_cap_gets_413_before_the_rest_is_read(
    client: httpx.AsyncClient, spool_dir: Path, endpoint: str
) -> None:
    """Streamed without Content-Length, so only counting the bytes as they arrive can stop it."""
    chunk, chunks = 256 * 1024, 4 * MAX_UPLOAD // (256 * 1024)
    sent = 0
    fields = b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\ntiny-whisper\r\n'
    fields += b'--b\r\nContent-Disposition: form-data; name="languages"\r\n\r\nen\r\n'
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield fields + head
        for _ in range(chunks):
            sent += 1
            yield b"\0" * chunk
        yield b"\r\n--b--\r\n"

    before = _leftovers(client, spool_dir)
    response = await client.post(
        endpoint, content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "request_too_large"
    assert sent * chunk <= MAX_UPLOAD + 2 * chunk, "the body was read past the cap"
    assert _leftovers(client, spool_dir) == before
