from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator

import httpx
import pytest

from app.models.common import engine_time
from app.services.logs import (
    LogLines,
    iter_log_lines,
    iter_log_text,
    ndjson_records,
    sse_events,
    sse_records,
)
from tests.conftest import RUN_ID, TEST_LABEL, docker

NDJSON = {"Accept": "application/x-ndjson"}
TS = b"2024-05-01T12:00:00.123456789Z"
TS2 = b"2024-05-01T12:00:00.123456790Z"


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(payload)) + payload


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def run(name: str, image: str, script: str, *flags: str) -> str:
    """A container that runs `script` and has exited."""
    docker(
        "run", "-d", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--name", name, *flags, image, "sh", "-c", script,
    )  # fmt: skip
    docker("wait", name)
    return name


def entries(r: httpx.Response) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines()]


# Pure parsing, no engine.


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_partial_frames_are_one_line_without_inner_timestamps(size: int) -> None:
    # The engine splits a long line into 16 KiB messages, each with its timestamp.
    body = (
        frame(1, TS + b" ")
        + frame(1, TS + b" one\n")
        + frame(1, TS + b" " + b"a" * 10)
        + frame(2, TS + b" err\n")
        + frame(1, TS2 + b" " + b"b" * 10 + b"\n")
        + frame(2, TS2 + b" last without newline")
    )
    got = [x async for x in iter_log_lines(chunked(body, size), tty=False)]
    assert [(x.stream, x.ts, x.line) for x in got] == [
        ("stdout", TS.decode(), "one"),
        ("stderr", TS.decode(), "err"),
        ("stdout", TS.decode(), "a" * 10 + "b" * 10),
        ("stderr", TS2.decode(), "last without newline"),
    ]
    ns = 1714564800_123456789
    assert [x.id for x in got] == [(ns, 0), (ns, 1), (ns, 2), (ns + 1, 0)]


def engine_long_line(stream: int, ts: bytes, line: bytes, piece: int = 16 << 10) -> bytes:
    """A line as the engine sends it: 16 KiB messages, each its own stamped frame."""
    pieces = [line[i : i + piece] for i in range(0, len(line), piece)]
    pieces[-1] += b"\n"
    return b"".join(frame(stream, ts + b" " + p) for p in pieces)


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_parser_long_lines_utf8_and_cut_at_any_chunking(size: int) -> None:
    snowman = "☃".encode()
    long = b"x" * 16383 + snowman + b"y" * 20000  # the snowman straddles two pieces
    body = (
        engine_long_line(1, TS, long)
        + frame(2, TS2 + b" bad \xff\xfe end\n")
        + engine_long_line(1, TS2, b"z" * 40000)
    )
    got = [x async for x in iter_log_lines(chunked(body, size), tty=False, max_line=30000)]
    assert [(x.stream, x.ts) for x in got] == [
        ("stdout", TS.decode()),
        ("stdout", TS.decode()),  # the cut rest of the first line keeps its stamp
        ("stderr", TS2.decode()),
        ("stdout", TS2.decode()),
        ("stdout", TS2.decode()),
    ]
    first = got[0].line + got[1].line
    assert first == long.decode()
    assert "Z " not in first
    assert len(got[0].line.encode()) == 30000
    assert got[2].line == "bad \ufffd\ufffd end"
    assert got[3].line + got[4].line == "z" * 40000
    assert len({x.id for x in got}) == len(got)


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_parser_tty_body(size: int) -> None:
    body = TS + b" one\r\n" + TS2 + b" t\xc3\xa9st\r\n" + TS2 + b" " + b"w" * 50 + b"\r\n"
    body += TS2 + b" no newline"
    got = [x async for x in iter_log_lines(chunked(body, size), tty=True, max_line=20)]
    assert [(x.stream, x.ts, x.line) for x in got] == [
        ("stdout", TS.decode(), "one"),
        ("stdout", TS2.decode(), "tést"),
        ("stdout", TS2.decode(), "w" * 20),
        ("stdout", TS2.decode(), "w" * 20),
        ("stdout", TS2.decode(), "w" * 10),
        ("stdout", TS2.decode(), "no newline"),
    ]


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_text_keeps_split_utf8_and_replaces_invalid_bytes(size: int) -> None:
    snowman = "☃".encode()
    body = frame(1, TS + b" x" + snowman[:1]) + frame(1, TS2 + b" " + snowman[1:] + b"\xff\n")
    body += frame(2, TS2 + b" err\n")
    for stamps, want in (
        (True, f"{TS.decode()} x☃\ufffd\n{TS2.decode()} err\n"),
        (False, "x☃\ufffd\nerr\n"),
    ):
        out = b"".join(
            [x async for x in iter_log_text(chunked(body, size), tty=False, timestamps=stamps)]
        )
        assert out.decode() == want
    tty = b"a" + snowman[:2]
    out = b"".join(
        [
            x
            async for x in iter_log_text(
                chunked(tty + snowman[2:] + b"\r\n", size), tty=True, timestamps=False
            )
        ]
    )
    assert out.decode() == "a☃\r\n"


def test_engine_time_is_exact_to_the_nanosecond() -> None:
    assert engine_time("2024-05-01T12:00:00.123456789Z") == "1714564800.123456789"
    assert engine_time("1714564800.5") == "1714564800.500000000"


# Against the engine.


async def test_logs_text_and_ndjson_keep_streams_apart(
    client: httpx.AsyncClient, name: str, image: str
) -> None:
    run(name, image, "echo out1; echo err1 >&2; echo out2; echo err2 >&2")
    r = await client.get(f"/v1/containers/{name}/logs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert sorted(r.text.splitlines()) == ["err1", "err2", "out1", "out2"]

    got = entries(await client.get(f"/v1/containers/{name}/logs", headers=NDJSON))
    assert [(e["stream"], e["line"]) for e in got if e["stream"] == "stdout"] == [
        ("stdout", "out1"),
        ("stdout", "out2"),
    ]
    assert [e["line"] for e in got if e["stream"] == "stderr"] == ["err1", "err2"]
    assert all(e["ts"].endswith("Z") for e in got)

    only_out = await client.get(f"/v1/containers/{name}/logs", params={"stderr": "false"})
    assert only_out.text == "out1\nout2\n"
    only_err = entries(
        await client.get(f"/v1/containers/{name}/logs", params={"stdout": "0"}, headers=NDJSON)
    )
    assert [(e["stream"], e["line"]) for e in only_err] == [("stderr", "err1"), ("stderr", "err2")]

    neither = await client.get(
        f"/v1/containers/{name}/logs", params={"stdout": "false", "stderr": "false"}
    )
    assert neither.status_code == 422
    assert neither.json()["code"] == "validation-error"


async def test_logs_tail_since_until_timestamps(
    client: httpx.AsyncClient, name: str, image: str
) -> None:
    run(name, image, "for i in 1 2 3 4 5; do echo line$i; done")
    url = f"/v1/containers/{name}/logs"
    got = entries(await client.get(url, headers=NDJSON))
    assert [e["line"] for e in got] == [f"line{i}" for i in range(1, 6)]

    assert (await client.get(url, params={"tail": "2"})).text == "line4\nline5\n"
    assert (await client.get(url, params={"tail": "0"})).text == ""
    assert (await client.get(url, params={"tail": "x"})).status_code == 422

    stamped = (await client.get(url, params={"timestamps": "true", "tail": "1"})).text
    assert stamped == f"{got[4]['ts']} line5\n"

    # since is inclusive, until inclusive, both exact to the nanosecond.
    since = (await client.get(url, params={"since": got[2]["ts"]})).text
    assert since == "line3\nline4\nline5\n"
    until = (await client.get(url, params={"until": got[1]["ts"]})).text
    assert until == "line1\nline2\n"
    future = (await client.get(url, params={"since": "4102444800"})).text  # 2100, unix seconds
    assert future == ""
    bad = await client.get(url, params={"since": "yesterday"})
    assert bad.status_code == 422
    for value in ("inf", "-inf", "nan", "1e400", "1e300"):  # float() reads them all
        for param in ("since", "until"):
            bad = await client.get(url, params={param: value})
            assert bad.status_code == 422, (param, value, bad.text)
            assert bad.json()["code"] == "validation-error"


async def test_logs_tty_body_is_raw(client: httpx.AsyncClient, name: str, image: str) -> None:
    run(name, image, "echo one; echo two >&2", "-t")
    r = await client.get(f"/v1/containers/{name}/logs")
    assert r.text.replace("\r\n", "\n") == "one\ntwo\n"
    got = entries(await client.get(f"/v1/containers/{name}/logs", headers=NDJSON))
    assert [(e["stream"], e["line"]) for e in got] == [("stdout", "one"), ("stdout", "two")]
    assert all(e["ts"] for e in got)
    stamped = (await client.get(f"/v1/containers/{name}/logs", params={"timestamps": 1})).text
    assert stamped.splitlines()[0].endswith("Z one")


async def test_logs_invalid_utf8_and_a_3mb_line(
    client: httpx.AsyncClient, name: str, image: str
) -> None:
    big = 3 * 1024 * 1024
    run(name, image, f"printf 'bad\\377\\376end\\n'; head -c {big} /dev/zero | tr '\\0' a; echo")
    got = entries(await client.get(f"/v1/containers/{name}/logs", headers=NDJSON))
    assert [len(e["line"]) for e in got] == [len("bad\ufffd\ufffdend"), big]
    assert got[0]["line"] == "bad\ufffd\ufffdend"
    assert set(got[1]["line"]) == {"a"}
    text = (await client.get(f"/v1/containers/{name}/logs")).text
    assert text == "bad\ufffd\ufffdend\n" + "a" * big + "\n"


async def test_logs_of_missing_container(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/containers/mt-no-such-container/logs")
    assert r.status_code == 404
    assert r.json()["code"] == "container-not-found"


async def test_logs_of_a_driver_that_keeps_none(
    client: httpx.AsyncClient, name: str, image: str
) -> None:
    run(name, image, "echo hi", "--log-driver", "none")
    r = await client.get(f"/v1/containers/{name}/logs")
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_parser_odd_frames_take_the_slow_path(size: int) -> None:
    # Two lines in one frame, a NUL in a line, a frame without a stamp, a short stamp.
    body = (
        frame(1, TS + b" a\nb\n")
        + frame(1, TS + b" nul\x00byte\n")
        + frame(2, b"no stamp\n")
        + frame(1, b"2024-05-01T12:00:01Z short\n")
        + frame(1, TS2 + b' quote " and \\ and \t\n')
    )
    got = [x async for x in iter_log_lines(chunked(body, size), tty=False)]
    assert [(x.stream, x.ts, x.line) for x in got] == [
        ("stdout", TS.decode(), "a"),
        ("stdout", TS.decode(), "b"),
        ("stdout", TS.decode(), "nul\x00byte"),
        ("stderr", None, "no stamp"),
        ("stdout", "2024-05-01T12:00:01Z", "short"),
        ("stdout", TS2.decode(), 'quote " and \\ and \t'),
    ]
    ns = 1714564800_123456789
    assert [x.id for x in got] == [
        (ns, 0),
        (ns, 1),
        (ns, 2),
        (ns, 3),
        (ns + 876543211, 0),
        (ns + 1, 0),
    ]


async def test_encoders_agree_with_json() -> None:
    body = (
        frame(1, TS + b' one "q" \\ \xff\n') + frame(2, TS + b" two\n") + frame(2, b"unstamped\n")
    )
    parser = LogLines(tty=False)
    batch = parser.feed(body)
    records = sse_records(batch)
    assert b"".join(records[:2]) == sse_events(
        LogLines(tty=False).feed(body[: -len(frame(2, b"unstamped\n"))])
    )
    events = [r.split(b"\n") for r in records]
    assert [e[0] for e in events] == [
        b"id: 1714564800123456789-0",
        b"id: 1714564800123456789-1",
        b"id: 1714564800123456789-2",
    ]
    assert [json.loads(e[2].removeprefix(b"data: ")) for e in events] == [
        {"stream": "stdout", "ts": TS.decode(), "line": 'one "q" \\ \ufffd'},
        {"stream": "stderr", "ts": TS.decode(), "line": "two"},
        {"stream": "stderr", "ts": None, "line": "unstamped"},
    ]
    assert [json.loads(x) for x in ndjson_records(batch).splitlines()] == [
        json.loads(e[2].removeprefix(b"data: ")) for e in events
    ]


def _stamp(ns: int) -> bytes:
    import datetime

    secs, frac = divmod(ns, 1_000_000_000)
    day = datetime.datetime.fromtimestamp(secs, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{day}.{frac:09d}Z".encode()


@pytest.mark.parametrize("size", [1, 113, 4096, 1 << 20])
async def test_batches_match_a_line_by_line_encoding(size: int) -> None:
    # Runs of one-line frames (the fast path) around frames that are not: a line over
    # 16 KiB in two frames, a frame without a stamp, two lines in one frame, a header
    # whose length holds a newline byte (266 = 0x10a), equal stamps, a second boundary,
    # stderr among stdout, and lines JSON must escape or that are not UTF-8.
    base = 1714564799_999999990
    lines: list[tuple[int, int | None, bytes]] = []  # (stream, ns, line)
    for i in range(40):
        lines.append((1 + (i % 7 == 3), base + i // 3, b"line %d" % i))
    lines[5:5] = [(1, base + 1, b"x" * 235), (2, base + 1, b'q"b\\t\tn\x00 \xc3\xa9 \xff')]
    lines[20:20] = [(1, None, b"unstamped"), (2, base + 50, b"\x1b[31mred\x1b[0m \xe2\x98\x83")]
    body = b""
    for stream, ns, line in lines:
        body += frame(stream, (_stamp(ns) + b" " if ns is not None else b"") + line + b"\n")
    long_ns = base + 60
    body += engine_long_line(1, _stamp(long_ns), b"L" * 20000)
    body += frame(2, _stamp(long_ns) + b" two\nin one\n")
    body += b"".join(frame(1, _stamp(long_ns + 1 + i) + b" after %d\n" % i) for i in range(30))
    lines += [(1, long_ns, b"L" * 20000), (2, long_ns, b"two"), (2, long_ns, b"in one")]
    lines += [(1, long_ns + 1 + i, b"after %d" % i) for i in range(30)]

    parser = LogLines(tty=False)
    batches = [parser.feed(body[i : i + size]) for i in range(0, len(body), size)]
    batches.append(parser.flush())
    got = [line for batch in batches for line in batch.lines()]
    want_ns, last, seq = [], 0, -1
    for _, ns, _ in lines:
        ns = last if ns is None else ns
        seq = seq + 1 if ns == last else 0
        last = ns
        want_ns.append((ns, seq))
    assert [(x.stream, x.id, x.line.encode("utf-8", "surrogateescape")) for x in got] == [
        ("stderr" if stream == 2 else "stdout", id_, line.decode("utf-8", "replace").encode())
        for (stream, _, line), id_ in zip(lines, want_ns, strict=True)
    ]
    assert [x.ts for x in got] == [
        _stamp(ns).decode() if ns is not None else None for _, ns, _ in lines
    ]
    naive = b"".join(
        b"id: %d-%d\nevent: log\ndata: %s\n\n"
        % (*x.id, json.dumps({"stream": x.stream, "ts": x.ts, "line": x.line}).encode())
        for x in got
    )
    # Same JSON values (json.dumps escapes non-ASCII, orjson does not): compare parsed.
    ours = b"".join(sse_events(batch) for batch in batches)
    assert ours.count(b"\n\n") == naive.count(b"\n\n") == len(lines)

    def parsed(stream: bytes) -> list[tuple[bytes, bytes, object]]:
        events = [e.split(b"\n") for e in stream.split(b"\n\n")[:-1]]
        return [(e[0], e[1], json.loads(e[2].removeprefix(b"data: "))) for e in events]

    assert parsed(ours) == parsed(naive)
    assert ours == b"".join(b"".join(sse_records(batch)) for batch in batches)
    for batch in batches:
        if len(batch):
            lo, hi = batch.min_ns(), batch.max_ns()  # before `ns` is computed
            assert (lo, hi) == (min(batch.ns), max(batch.ns))
