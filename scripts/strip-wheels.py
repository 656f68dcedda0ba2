"""Strip the debug symbols from the shared objects in the wheels of a wheelhouse.

    python3 scripts/strip-wheels.py wheelhouse/

Wheels from PyPI ship some extensions unstripped (uvloop's loop.so: 13.3 MB with its
symbols, 1.6 MB without); the image carries what the wheels hold, so the image's own
layers shrink by as much. A wheel is rewritten only when `strip --strip-unneeded`
makes one of its shared objects smaller, with its RECORD (hash and size) made to
match, so running this again changes nothing. Needs binutils' `strip` (without it,
the wheels are left as they are).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# Below this, a rewrite is not worth it (and `strip` of a stripped object can still
# shave a few bytes each time: without a floor, every run would rewrite it again).
MIN_SAVING = 64 * 1024


def _stripped(data: bytes) -> bytes:
    with tempfile.NamedTemporaryFile(suffix=".so") as f:
        f.write(data)
        f.flush()
        subprocess.run(["strip", "--strip-unneeded", f.name], check=True)
        return Path(f.name).read_bytes()


def _record_line(name: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


def strip_wheel(path: Path) -> int:
    """Bytes saved (0: the wheel is left as it was)."""
    with zipfile.ZipFile(path) as whl:
        infos = whl.infolist()
        members = {info.filename: whl.read(info) for info in infos}
    smaller = {}
    for name, data in members.items():
        if name.endswith(".so") or ".so." in name:
            new = _stripped(data)
            if len(data) - len(new) > MIN_SAVING:
                smaller[name] = new
    if not smaller:
        return 0
    saved = sum(len(members[name]) - len(new) for name, new in smaller.items())
    members.update(smaller)
    record = next(n for n in members if n.endswith(".dist-info/RECORD"))
    rows = list(csv.reader(io.StringIO(members[record].decode())))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(_record_line(row[0], smaller[row[0]]) if row and row[0] in smaller else row)
    members[record] = out.getvalue().encode()
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as whl:
        for info in infos:
            whl.writestr(info, members[info.filename])
    tmp.replace(path)
    return saved


def main(argv: list[str]) -> int:
    directory = Path(argv[1] if len(argv) > 1 else "wheelhouse")
    if shutil.which("strip") is None:
        print("strip-wheels: no `strip` (binutils): wheels left as they are", file=sys.stderr)
        return 0
    for path in sorted(directory.glob("*.whl")):
        saved = strip_wheel(path)
        if saved:
            print(f"strip-wheels: {path.name}: {saved / 1e6:.1f} MB of symbols", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
