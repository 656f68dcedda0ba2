"""Issue 11, bypasses 3, 4 and 6: spellings the engine reads, images by content, fetches.

Every attack goes through the whole app (tokens on, a strict policy) against the real
engine and asserts the 403 naming the rule AND that nothing got through: no container
made, no exec made, no image tagged or built — and, for whatever would make the
engine reach a registry, no connection at the address it names (a listener here
counts them; a control test shows the engine does connect when nothing stops it).

Images from a registry that is not allowed are made for real: an image of this run is
pushed to the local registry (127.0.0.1:5000, not in the policy), so the engine
records that registry as where its content lives (RepoDigests); another copy of it is
tagged under an allowed name outside moorage, as an operator could.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import subprocess
import tarfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import engine_parse, errors
from app.dockerfile import Unreadable, image_uses
from app.engine import Engine
from app.models.images import PushRequest, RegistryAuth
from app.policy import Policy
from app.services import images as svc
from app.settings import Settings
from tests.conftest import (
    RUN_ID,
    TEST_IMAGE,
    TEST_LABEL,
    docker,
    exists,
    guarded_engine,
    in_process,
    inspect,
    rmi,
    run_sleeper,
)
from tests.conftest import test_labels as labels
from tests.test_registry import PASSWORD, REGISTRY, USER, _registry_answers
from tests.test_security import bearer, write_tokens

pytestmark = pytest.mark.engine

SUFFIX = uuid.uuid4().hex[:8]
ADMIN, VIEWER = bearer("admin"), bearer("viewer")

PASSWD = """root:x:0:0:root:/root:/bin/sh
toor:x:0:0:another root:/:/bin/sh
bob:x:1000:1000::/:/bin/sh
badid:x:zz:0:a uid runc reads as 0:/:/bin/sh
plus:x:+0:0::/:/bin/sh
"""


# -- set-up ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pb-policy") / "policy.toml"
    path.write_text(
        """
allowed_capabilities = ["NET_BIND_SERVICE"]
allowed_registries = ["docker.io", "registry.local:5000"]
exec_allow_root = false
"""
    )
    return path


@pytest.fixture(scope="module")
async def api(
    policy_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    tokens = write_tokens(tmp_path_factory.mktemp("pb-tokens") / "tokens.toml")
    settings = Settings(policy_file=policy_file, tokens_file=tokens, audit_db=":memory:")
    async with in_process(settings, peer=("127.0.0.1", 5555), client_timeout=120) as (_, c):
        yield c


class Listener:
    """A TCP port that counts who connects: the registry address attacks name."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(accepted, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
async def listener() -> AsyncIterator[Listener]:
    lst = Listener()
    await lst.start()
    yield lst
    assert lst.server is not None
    lst.server.close()


@pytest.fixture
def evil(listener: Listener) -> Iterator[str]:
    """An image reference on the listening address (nothing there answers HTTP)."""
    before = listener.connections
    yield f"{listener.address}/pb-{SUFFIX}/base:1"
    assert listener.connections == before, "the engine connected to the refused registry"


def _docker_build(dockerfile: str, *tags: str) -> str:
    flags = [a for t in tags for a in ("-t", t)]
    proc = subprocess.run(
        ["docker", "build", "-q", *flags, "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def _rmi(*refs: str) -> None:
    """Remove images of this run (see conftest.rmi: a delete the shared engine holds
    for minutes is retried at the session's end)."""
    rmi(*refs)


@pytest.fixture(scope="module")
async def pushed() -> AsyncIterator[dict[str, str]]:
    """An image of this run whose content lives on a registry not allowed (pushed to
    127.0.0.1:5000), and the same content under an allowed name (tagged outside)."""
    if not _registry_answers():
        await asyncio.to_thread(
            subprocess.run, ["scripts/registry-up.sh"], check=False, timeout=120
        )
    if not _registry_answers():
        pytest.skip(f"no local registry on {REGISTRY} (scripts/registry-up.sh)")
    remote = f"{REGISTRY}/pb-{SUFFIX}/evil"
    laundered = f"moorage-test/pb-laundered-{SUFFIX}:1"
    image_id = _docker_build(
        f"FROM {TEST_IMAGE}\nLABEL {TEST_LABEL}={RUN_ID} pb=evil-{SUFFIX}\n", f"{remote}:1"
    )
    engine = Engine(Settings())
    try:
        auth = RegistryAuth.model_validate({"username": USER, "password": PASSWORD})
        await svc.push_image(engine, PushRequest(repository=remote, tag="1", auth=auth))
    finally:
        await engine.close()
    docker("tag", image_id, laundered)
    assert inspect("image", laundered)["RepoDigests"], "the push recorded no digest"
    yield {"id": image_id, "remote": f"{remote}:1", "laundered": laundered}
    _rmi(laundered, f"{remote}:1")
    for digest in (
        inspect("image", image_id).get("RepoDigests", []) if exists("image", image_id) else []
    ):
        _rmi(digest)
    _rmi(image_id)


@pytest.fixture(scope="module")
def local_only() -> Iterator[dict[str, str]]:
    """Images made here, never pushed: one named only in a disallowed registry, one
    with no name at all (content no allowed registry vouches for)."""
    named = f"{REGISTRY}/pb-{SUFFIX}/local:1"
    named_id = _docker_build(
        f"FROM {TEST_IMAGE}\nLABEL {TEST_LABEL}={RUN_ID} pb=local-{SUFFIX}\n", named
    )
    bare_id = _docker_build(f"FROM {TEST_IMAGE}\nLABEL {TEST_LABEL}={RUN_ID} pb=bare-{SUFFIX}\n")
    yield {"named": named, "named_id": named_id, "bare_id": bare_id}
    _rmi(named, named_id, bare_id)


@pytest.fixture(scope="module")
def own_allowed() -> Iterator[str]:
    """An image of this run under an allowed name, for the controls (the shared test
    image may be pushed to the test registry by other tests meanwhile)."""
    ref = f"moorage-test/pb-allowed-{SUFFIX}:1"
    _docker_build(f"FROM {TEST_IMAGE}\nLABEL {TEST_LABEL}={RUN_ID} pb=allowed-{SUFFIX}\n", ref)
    yield ref
    _rmi(ref)


@pytest.fixture(scope="module")
def users_image() -> Iterator[str]:
    """The test image with an /etc/passwd holding other spellings of root."""
    ref = f"moorage-test/pb-users-{SUFFIX}:1"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, text in {
            "Dockerfile": f"FROM {TEST_IMAGE}\nCOPY passwd /etc/passwd\n"
            f"LABEL {TEST_LABEL}={RUN_ID}\n",
            "passwd": PASSWD,
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    proc = subprocess.run(
        ["docker", "build", "-q", "-t", ref, "-"],
        input=buf.getvalue(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    yield ref
    _rmi(ref)


@pytest.fixture(scope="module")
def box(users_image: str) -> Iterator[str]:
    name = run_sleeper(users_image, f"mt-pb-box-{SUFFIX}", "--user", "bob", seconds=300)
    yield name
    docker("rm", "-f", name, check=False)


def _refused(r: httpx.Response, rule: str) -> None:
    assert r.status_code == 403, r.text
    problem = r.json()
    assert problem["code"] == "policy-violation", problem
    assert problem["detail"].startswith(f"{rule}:"), problem


def _spec(name: str, **extra: Any) -> dict[str, Any]:
    return {"image": TEST_IMAGE, "command": ["true"], "name": name, "labels": labels(), **extra}


# -- 3. security options and seccomp profiles, as the daemon reads them -----------------


def _seccomp(doc: Any) -> str:
    return "seccomp=" + (doc if isinstance(doc, str) else json.dumps(doc))


SECURITY_OPTS: list[tuple[str, str]] = [
    ("bare-disable", "disable"),
    ("label-colon-disable", "label:disable"),
    ("label-equals-disable", "label=disable"),
    ("label-type-spc", "label=type:spc_t"),
    ("label-user-unconfined", "label=user:unconfined_u"),
    ("seccomp-colon-unconfined", "seccomp:unconfined"),
    ("seccomp-upper-value", "seccomp=UNCONFINED"),
    ("apparmor-colon-unconfined", "apparmor:unconfined"),
    ("apparmor-other-profile", "apparmor=some-host-profile"),
    ("systempaths-unconfined", "systempaths=unconfined"),
    ("seccomp-DefaultAction", _seccomp({"DefaultAction": "SCMP_ACT_ALLOW"})),
    ("seccomp-lowercase-key", _seccomp({"defaultaction": "SCMP_ACT_ALLOW"})),
    ("seccomp-upper-key-log", _seccomp({"DEFAULTACTION": "SCMP_ACT_LOG"})),
    ("seccomp-trace", _seccomp({"defaultAction": "SCMP_ACT_TRACE"})),
    ("seccomp-no-default", _seccomp({"syscalls": []})),
    (
        "seccomp-last-duplicate-wins",
        'seccomp={"defaultAction": "SCMP_ACT_ERRNO", "DefaultAction": "SCMP_ACT_ALLOW"}',
    ),
    (
        "seccomp-allows-mount-long-s-key",
        '{"defaultAction":"SCMP_ACT_ERRNO","\u017fyscalls":'
        '[{"names":["mount"],"action":"SCMP_ACT_ALLOW"}]}',
    ),
    (
        "seccomp-allows-unshare-ptrace",
        _seccomp(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "Syscalls": [{"Names": ["read", "unshare", "ptrace"], "Action": "SCMP_ACT_ALLOW"}],
            }
        ),
    ),
    (
        "seccomp-mount-under-a-default-cap",
        _seccomp(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {
                        "names": ["mount", "unshare"],
                        "action": "SCMP_ACT_ALLOW",
                        "includes": {"caps": ["CAP_SETUID"]},
                    }
                ],
            }
        ),
    ),
    (
        "seccomp-deprecated-name-log",
        _seccomp(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"name": "bpf", "action": "SCMP_ACT_LOG"}],
            }
        ),
    ),
]


@pytest.mark.parametrize(("case", "opt"), SECURITY_OPTS, ids=[c for c, _ in SECURITY_OPTS])
async def test_security_opt_spellings_refused(
    api: httpx.AsyncClient, name: str, case: str, opt: str
) -> None:
    if opt.startswith("{"):
        opt = "seccomp=" + opt
    r = await api.post(
        "/v1/containers", json=_spec(name, security={"security_opt": [opt]}), headers=ADMIN
    )
    _refused(r, "allow_unconfined")
    assert not exists("container", name)


async def test_a_confining_seccomp_profile_is_allowed(
    policy_file: Path, own_allowed: str, name: str
) -> None:
    """The control: a profile that denies by default and allows ordinary calls is
    created (through the same guard; created, not started)."""
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
    }
    engine = Engine(Settings(policy_file=policy_file))
    body = {
        "Image": own_allowed,
        "Cmd": ["true"],
        "Labels": labels(),
        "HostConfig": {"SecurityOpt": [_seccomp(profile), "no-new-privileges"]},
    }
    try:
        doc = await engine.json("POST", "containers/create", params={"name": name}, json=body)
        assert inspect("container", name)["Id"] == doc["Id"]
    finally:
        await engine.close()
        docker("rm", "-f", name, check=False)


# -- 3. users: Go's integers, runc's passwd lookup ------------------------------------

ROOT_USERS = ["+0", "-0", "+0:+0", "0000", "root:", ":0", ":1000", "0:0:x", "toor", "toor:bob"]
ROOT_USERS += ["badid", "plus", "+00:1000"]


@pytest.mark.parametrize("user", ROOT_USERS)
async def test_exec_user_spellings_of_root_refused(
    api: httpx.AsyncClient, box: str, user: str
) -> None:
    before = inspect("container", box).get("ExecIDs") or []
    r = await api.post(
        f"/v1/containers/{box}/exec", json={"cmd": ["id", "-u"], "user": user}, headers=ADMIN
    )
    _refused(r, "exec_allow_root")
    assert (inspect("container", box).get("ExecIDs") or []) == before


@pytest.mark.parametrize("container_user", ["toor", "+0", "0000:1000"])
async def test_exec_inheriting_a_root_container_user_refused(
    api: httpx.AsyncClient, users_image: str, name: str, container_user: str
) -> None:
    run_sleeper(users_image, name, "--user", container_user, seconds=300)
    try:
        r = await api.post(f"/v1/containers/{name}/exec", json={"cmd": ["id"]}, headers=ADMIN)
        _refused(r, "exec_allow_root")
        assert not inspect("container", name).get("ExecIDs")
    finally:
        docker("rm", "-f", name, check=False)


async def test_exec_as_a_user_is_allowed(api: httpx.AsyncClient, box: str) -> None:
    """The control: bob (the container's user) and his uid run, as themselves."""
    for user in (None, "bob", "1000"):
        body: dict[str, Any] = {"cmd": ["id", "-u"]}
        if user is not None:
            body["user"] = user
        r = await api.post(f"/v1/containers/{box}/exec", json=body, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["output"].strip() == "1000"


# -- 4. images judged by where their content came from --------------------------------


@pytest.mark.parametrize(
    "which", ["full-id", "id-hex", "short-id-12", "short-id-5", "laundered-tag", "remote"]
)
async def test_create_from_disallowed_content_refused(
    api: httpx.AsyncClient, pushed: dict[str, str], name: str, which: str
) -> None:
    image_id = pushed["id"]
    ref = {
        "full-id": image_id,
        "id-hex": image_id.removeprefix("sha256:"),
        "short-id-12": image_id[7:19],
        "short-id-5": image_id[7:12],
        "laundered-tag": pushed["laundered"],
        "remote": pushed["remote"],
    }[which]
    r = await api.post("/v1/containers", json=_spec(name, image=ref, pull="never"), headers=ADMIN)
    _refused(r, "allowed_registries")
    assert not exists("container", name)


async def test_create_by_repo_digest_refused(
    api: httpx.AsyncClient, pushed: dict[str, str], name: str
) -> None:
    digest = inspect("image", pushed["id"])["RepoDigests"][0]
    r = await api.post(
        "/v1/containers", json=_spec(name, image=digest, pull="never"), headers=ADMIN
    )
    _refused(r, "allowed_registries")
    assert not exists("container", name)


@pytest.mark.parametrize("which", ["named_id", "bare_id"])
async def test_create_from_local_content_without_allowed_name_refused(
    api: httpx.AsyncClient, local_only: dict[str, str], name: str, which: str
) -> None:
    r = await api.post(
        "/v1/containers", json=_spec(name, image=local_only[which], pull="never"), headers=ADMIN
    )
    _refused(r, "allowed_registries")
    assert not exists("container", name)


async def test_create_from_allowed_content_by_id_is_allowed(
    api: httpx.AsyncClient, own_allowed: str, name: str
) -> None:
    """The control: an image named on Docker Hub (allowed), by its short id."""
    short = inspect("image", own_allowed)["Id"][7:19]
    r = await api.post("/v1/containers", json=_spec(name, image=short), headers=ADMIN)
    try:
        assert r.status_code == 201, r.text
    finally:
        docker("rm", "-f", name, check=False)


@pytest.mark.parametrize("which", ["full-id", "short-id", "laundered-tag"])
async def test_tag_of_disallowed_content_under_an_allowed_name_refused(
    api: httpx.AsyncClient, pushed: dict[str, str], which: str
) -> None:
    source = {
        "full-id": pushed["id"],
        "short-id": pushed["id"][7:17],
        "laundered-tag": pushed["laundered"],
    }[which]
    target = f"moorage-test/pb-retag-{uuid.uuid4().hex[:6]}"
    r = await api.post(
        f"/v1/images/{source}/tag", json={"repository": target, "tag": "1"}, headers=ADMIN
    )
    _refused(r, "allowed_registries")
    assert not exists("image", f"{target}:1")


async def test_tag_into_a_disallowed_registry_refused(api: httpx.AsyncClient) -> None:
    target = f"{REGISTRY}/pb-{SUFFIX}/copy"
    r = await api.post(
        f"/v1/images/{TEST_IMAGE}/tag", json={"repository": target, "tag": "1"}, headers=ADMIN
    )
    _refused(r, "allowed_registries")
    assert not exists("image", f"{target}:1")


async def test_push_of_disallowed_content_refused(
    api: httpx.AsyncClient, pushed: dict[str, str]
) -> None:
    repo, _, tag = pushed["laundered"].rpartition(":")
    r = await api.post("/v1/images/push", json={"repository": repo, "tag": tag}, headers=ADMIN)
    _refused(r, "allowed_registries")


# -- 4. builds: every FROM, in JSON and tar contexts alike -------------------------------


def _dockerfiles(evil: str) -> list[tuple[str, str, dict[str, str]]]:
    ok = TEST_IMAGE
    return [
        ("plain", f"FROM {evil}\n", {}),
        ("lowercase", f"from {evil}\n", {}),
        ("platform-flag", f"FROM --platform=linux/amd64 {evil}\n", {}),
        ("quoted", f'FROM "{evil}"\n', {}),
        ("continuation", f"FROM \\\n  # a comment inside\n  {evil}\n", {}),
        ("escape-directive", f"# escape=`\nFROM `\n {evil}\n", {}),
        ("arg-default", f"ARG BASE={evil}\nFROM $BASE\n", {}),
        ("arg-braces-default", f"FROM ${{BASE:-{evil}}}\n", {}),
        ("buildarg-override", f"ARG BASE={ok}\nFROM ${{BASE}}\n", {"BASE": evil}),
        ("second-stage", f"FROM {ok} AS one\nRUN true\nFROM {evil}\n", {}),
        ("copy-from", f"FROM {ok}\nCOPY --from={evil} /bin/sh /x\n", {}),
        ("copy-from-arg", f"ARG SRC={evil}\nFROM {ok}\nARG SRC\nCOPY --from=$SRC / /x\n", {}),
        ("run-mount-from", f"FROM {ok}\nRUN --mount=type=bind,from={evil},target=/m true\n", {}),
        ("onbuild-copy-from", f"FROM {ok}\nONBUILD COPY --from={evil} / /x\n", {}),
        ("syntax-directive", f"# syntax={evil}\nFROM {ok}\n", {}),
        ("tab-separated", f"FROM\t{evil}\n", {}),
        ("byte-order-mark", f"\ufeffFROM {evil}\n", {}),
        ("crlf-continuation", f"FROM \\\r\n{evil}\r\n", {}),
        ("predefined-proxy-arg", f"FROM ${{HTTP_PROXY:-{ok}}}\n", {"HTTP_PROXY": evil}),
        ("stage-named-then-image", f"FROM {ok} AS base\nFROM BASE\nFROM {evil}\n", {}),
    ]


DOCKERFILE_CASES = [c[0] for c in _dockerfiles("x")]


@pytest.mark.parametrize("case", DOCKERFILE_CASES)
async def test_json_build_from_a_disallowed_registry_refused(
    api: httpx.AsyncClient, evil: str, case: str
) -> None:
    _, dockerfile, args = next(c for c in _dockerfiles(evil) if c[0] == case)
    tag = f"moorage-test/pb-build-{uuid.uuid4().hex[:6]}:1"
    body = {"dockerfile": dockerfile, "tag": tag, "buildargs": args, "labels": labels()}
    r = await api.post("/v1/images/build", json=body, headers=ADMIN)
    _refused(r, "allowed_registries")
    assert not exists("image", tag)


def _tar(files: dict[str, str | tuple[str, str]], *, compress: bool = False) -> bytes:
    """A context; a (`symlink`, target) value makes a symlink. Order is kept."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, value in files.items():
            info = tarfile.TarInfo(path.split("#")[0])
            if isinstance(value, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, value[1]
                tar.addfile(info)
            else:
                data = value.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw) if compress else raw


TAR_CASES = ["plain", "gzip", "last-entry-wins", "symlinked-dockerfile", "named-dockerfile"]


@pytest.mark.parametrize("case", TAR_CASES)
async def test_streamed_tar_build_from_a_disallowed_registry_refused(
    api: httpx.AsyncClient, evil: str, case: str
) -> None:
    ok = f"FROM {TEST_IMAGE}\n"
    bad = f"FROM {evil}\n"
    params: dict[str, Any] = {}
    if case == "plain":
        data = _tar({"Dockerfile": bad})
    elif case == "gzip":
        data = _tar({"Dockerfile": bad}, compress=True)
    elif case == "last-entry-wins":
        data = _tar({"Dockerfile": ok, "Dockerfile#again": bad})
    elif case == "symlinked-dockerfile":
        data = _tar({"real.Dockerfile": bad, "Dockerfile": ("symlink", "real.Dockerfile")})
    else:
        params = {"dockerfile": "sub/Build.file", "buildargs": json.dumps({"B": evil})}
        data = _tar({"Dockerfile": ok, "sub/Build.file": "ARG B\nFROM ${B}\n"})
    tag = f"moorage-test/pb-tar-{uuid.uuid4().hex[:6]}:1"
    r = await api.post(
        "/v1/images/build",
        params={"tag": tag, **params},
        content=data,
        headers={**ADMIN, "Content-Type": "application/x-tar"},
    )
    _refused(r, "allowed_registries")
    assert not exists("image", tag)


async def test_streamed_tar_build_run_network_host_refused(api: httpx.AsyncClient) -> None:
    """The Dockerfile of a streamed context is read at all now: its RUN flags too."""
    tag = f"moorage-test/pb-tar-net-{uuid.uuid4().hex[:6]}:1"
    data = _tar({"Dockerfile": f"FROM {TEST_IMAGE}\nRUN --network=host true\n"})
    r = await api.post(
        "/v1/images/build",
        params={"tag": tag},
        content=data,
        headers={**ADMIN, "Content-Type": "application/x-tar"},
    )
    _refused(r, "allow_host_namespaces")
    assert not exists("image", tag)


@pytest.mark.parametrize("which", ["id", "laundered"])
async def test_build_from_disallowed_local_content_refused(
    api: httpx.AsyncClient, pushed: dict[str, str], which: str
) -> None:
    base = pushed["id"][7:19] if which == "id" else pushed["laundered"]
    tag = f"moorage-test/pb-build-{uuid.uuid4().hex[:6]}:1"
    r = await api.post(
        "/v1/images/build",
        json={"dockerfile": f"FROM {base}\nRUN true\n", "tag": tag, "labels": labels()},
        headers=ADMIN,
    )
    _refused(r, "allowed_registries")
    assert not exists("image", tag)


async def test_streamed_tar_build_from_an_allowed_image_builds(
    api: httpx.AsyncClient, own_allowed: str
) -> None:
    """The control: a spooled tar context reaches the engine whole and builds."""
    tag = f"moorage-test/pb-tar-ok-{uuid.uuid4().hex[:6]}:1"
    data = _tar({"Dockerfile": f"FROM {own_allowed}\nCOPY f /f\n", "f": "x" * 200_000})
    r = await api.post(
        "/v1/images/build",
        params={"tag": tag, "labels": json.dumps(labels())},
        content=data,
        headers={**ADMIN, "Content-Type": "application/x-tar"},
    )
    try:
        assert r.status_code == 200, r.text
        assert exists("image", tag)
    finally:
        _rmi(tag)


# -- 6. what makes the engine reach out: role and registries ----------------------------


async def test_distribution_needs_the_operator_role(api: httpx.AsyncClient, evil: str) -> None:
    r = await api.post("/v1/images/distribution", json={"image": evil}, headers=VIEWER)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "forbidden"


async def test_distribution_of_a_disallowed_registry_refused(
    api: httpx.AsyncClient, evil: str
) -> None:
    r = await api.post("/v1/images/distribution", json={"image": evil}, headers=ADMIN)
    _refused(r, "allowed_registries")


async def test_pull_from_a_disallowed_registry_refused(api: httpx.AsyncClient, evil: str) -> None:
    r = await api.post("/v1/images/pull", json={"image": evil}, headers=ADMIN)
    _refused(r, "allowed_registries")
    assert not exists("image", evil)


async def test_create_with_pull_always_from_a_disallowed_registry_refused(
    api: httpx.AsyncClient, evil: str, name: str
) -> None:
    r = await api.post("/v1/containers", json=_spec(name, image=evil, pull="always"), headers=ADMIN)
    _refused(r, "allowed_registries")
    assert not exists("container", name)


async def test_build_with_pull_from_a_disallowed_registry_refused(
    api: httpx.AsyncClient, evil: str
) -> None:
    tag = f"moorage-test/pb-pull-{uuid.uuid4().hex[:6]}:1"
    body = {"dockerfile": f"FROM {evil}\n", "tag": tag, "pull": True, "labels": labels()}
    r = await api.post("/v1/images/build", json=body, headers=ADMIN)
    _refused(r, "allowed_registries")
    assert not exists("image", tag)


async def test_the_listener_does_see_an_engine_that_is_not_stopped(listener: Listener) -> None:
    """The control for every `no connection` above: unguarded, the engine connects."""
    before = listener.connections
    engine = Engine(Settings())
    try:
        with pytest.raises(Exception):  # noqa: B017,PT011 - nothing answers HTTP there
            await engine.json("GET", f"distribution/{listener.address}/pb/x:1/json")
    finally:
        await engine.close()
    assert listener.connections > before


# -- the readings themselves (pure) -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[("+0", 0), ("-0", 0), ("0000", 0), ("+007", 7), ("0x0", None), ("1_000", None)],
        *[(" 0", None), ("+", None), ("", None), ("\u0661", None)],  # an Arabic-Indic 1
    ],
)
def test_go_atoi(text: str, value: int | None) -> None:
    assert engine_parse.go_atoi(text) == value


@pytest.mark.parametrize(
    ("user", "uid"),
    [
        *[("", 0), (":1000", 0), ("root:", 0), ("toor", 0), ("badid", 0), ("plus", 0)],
        *[("bob", 1000), ("1000:0", 1000), ("nobody-here", None), ("2147483648", None)],
    ],
)
def test_exec_uid(user: str, uid: int | None) -> None:
    assert engine_parse.exec_uid(user, PASSWD) == uid


@pytest.mark.parametrize(
    ("ref", "registry"),
    [
        ("Evil/x", "evil"),  # upper case: distribution reads it as a host
        ("LOCALHOST/x", "localhost"),
        ("localhost/x", "localhost"),
        ("team/app:1", "docker.io"),
        ("index.docker.io/library/x", "docker.io"),
        ("x", "docker.io"),
        ("127.0.0.1:5000/a/b@sha256:" + "0" * 64, "127.0.0.1:5000"),
    ],
)
def test_image_registry_as_distribution_splits_it(ref: str, registry: str) -> None:
    assert engine_parse.image_registry(ref) == registry


@pytest.mark.parametrize(
    ("opt", "parsed"),
    [
        ("disable", ("label", "disable")),
        ("no-new-privileges", ("no-new-privileges", "true")),
        ("label:type:spc_t", ("label", "type:spc_t")),
        ("seccomp=a:b", ("seccomp", "a:b")),
        ("apparmor:x=y", ("apparmor:x", "y")),  # `=` wins, as in the daemon
    ],
)
def test_security_opt_split_as_the_daemon_does(opt: str, parsed: tuple[str, str]) -> None:
    assert engine_parse.security_opt(opt) == parsed


def test_dockerfile_stages_are_not_images() -> None:
    text = (
        "FROM moorage-test/busybox AS Build\nFROM build\nCOPY --from=0 / /\n"
        "COPY --from=BUILD / /\nFROM scratch\n"
    )
    assert [u.ref for u in image_uses(text, {})] == ["moorage-test/busybox"]


@pytest.mark.parametrize(
    "text", ["ARG B=x\nFROM ${B#x}\n", 'FROM "unterminated\n', "FROM ${B:?}\n", "FROM\n"]
)
def test_dockerfile_words_it_cannot_read_are_refused(text: str) -> None:
    with pytest.raises(Unreadable):
        image_uses(text, {})
    policy = Policy(allowed_registries=["docker.io"])
    with pytest.raises(errors.PolicyViolation, match=r"^allowed_registries:"):
        policy.check_build({}, _tar({"Dockerfile": text}))


def test_image_origin() -> None:
    policy = Policy(allowed_registries=["docker.io"])
    allowed_digest = {"RepoDigests": ["a@sha256:1", "127.0.0.1:5000/a@sha256:1"]}
    policy.check_image_origin("x", allowed_digest)
    policy.check_image_origin("x", {"RepoTags": ["a:1", "127.0.0.1:5000/a:1"]})
    for doc in (
        {"RepoTags": ["a:1"], "RepoDigests": ["127.0.0.1:5000/a@sha256:1"]},
        {"RepoTags": ["127.0.0.1:5000/a:1"]},
        {"RepoTags": ["<none>:<none>"], "RepoDigests": []},
    ):
        with pytest.raises(errors.PolicyViolation, match=r"^allowed_registries:"):
            policy.check_image_origin("x", doc)


# -- 6. engine calls no route makes today, refused at the guard all the same -------------


@pytest.fixture(scope="module")
async def guarded(policy_file: Path) -> AsyncIterator[Engine]:
    async with guarded_engine(policy_file) as engine:
        yield engine


@pytest.mark.parametrize("call", ["search", "login", "import-url", "remote-build", "raw-dist"])
async def test_engine_fetches_refused_at_the_guard(
    guarded: Engine, listener: Listener, evil: str, call: str
) -> None:
    url = f"http://{listener.address}/ctx.tar"
    login = {"username": "u", "password": "p", "serveraddress": listener.address}
    method, path, params, body = {
        "search": ("GET", "images/search", {"term": f"{listener.address}/x"}, None),
        "login": ("POST", "auth", None, login),
        "import-url": ("POST", "images/create", {"fromSrc": url, "repo": "pb/x"}, None),
        "remote-build": ("POST", "build", {"remote": url, "t": "pb/x:1"}, None),
        "raw-dist": ("GET", f"/v1.41/distribution/{evil}/json", None, None),
    }[call]
    with pytest.raises(errors.PolicyViolation, match=r"^allowed_registries:"):
        await guarded.json(method, path, params=params, json=body)
    assert not exists("image", "pb/x:1")


def test_names_of_hex_letters_are_names_where_only_a_name_can_be() -> None:
    """`cafe` is Docker Hub's library/cafe when it is a build tag or a service image."""
    policy = Policy(allowed_registries=["registry.local:5000"])
    with pytest.raises(errors.PolicyViolation, match=r"^allowed_registries:"):
        policy.check_build({"t": "cafe"}, _tar({"Dockerfile": "FROM scratch\n"}))
    with pytest.raises(errors.PolicyViolation, match=r"^allowed_registries:"):
        policy.check_image_name("beef")


def test_a_profile_shaped_like_the_default_is_allowed() -> None:
    """Deny by default; ptrace on new kernels; mount only with CAP_SYS_ADMIN (which no
    container holds here); clone and personality with argument filters."""
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read", "write", "name_to_handle_at"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["mount", "unshare"], "action": "SCMP_ACT_ALLOW"}
            | {"includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        ],
    }
    Policy().check_security_opt("seccomp=" + json.dumps(profile))
    granted = Policy(allowed_capabilities=["SYS_ADMIN"])
    with pytest.raises(errors.PolicyViolation, match=r"^allow_unconfined:"):
        granted.check_security_opt("seccomp=" + json.dumps(profile))


async def test_exec_user_is_pinned_to_the_uid_it_was_judged_as(
    guarded: Engine, users_image: str, name: str, tmp_path: Path
) -> None:
    """A container rewrites its /etc/passwd between the exec's check (create) and its
    start (when runc reads the name): the engine was handed bob's uid, not his name."""
    run_sleeper(users_image, name, "--user", "bob", seconds=300)
    try:
        doc = await guarded.json(
            "POST",
            f"containers/{name}/exec",
            json={"Cmd": ["id", "-u"], "User": "bob", "AttachStdout": True},
        )
        assert inspect("container", name)["ExecIDs"] == [doc["Id"]]
        rooted = tmp_path / "passwd"
        rooted.write_text(PASSWD.replace("bob:x:1000:", "bob:x:0:"))
        docker("cp", str(rooted), f"{name}:/etc/passwd")
        started = await guarded.json("GET", f"exec/{doc['Id']}/json")
        assert started["ProcessConfig"]["user"] == "1000"
        async with guarded.request(
            "POST", f"exec/{doc['Id']}/start", json={"Detach": False, "Tty": True}
        ) as response:
            output = (await response.read()).decode()
        assert output.strip() == "1000"
    finally:
        docker("rm", "-f", name, check=False)
