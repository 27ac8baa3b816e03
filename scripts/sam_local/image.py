"""The stand-in for Lambda's python3.12 image, for `sam local --invoke-image` where no registry answers.

A Debian 12 root (the packages in runtime/packages.txt, unpacked as debootstrap's first stage does),
this machine's Python 3.12 at /var/lang, awslambdaric and boto3 (requirements/lambda-image.lock),
and Lambda's /var/runtime/bootstrap, imported with `docker import`. Its tag is the hash of all of
that, so it is built once and rebuilt when any input changes. Not Amazon Linux 2023: what it does
not prove is in docs/sam-local.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import docker.errors  # type: ignore[import-untyped]

from scripts.sam_local.engine import apt_get, client

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = Path(__file__).parent / "runtime"
LOCK = ROOT / "requirements" / "lambda-image.lock"
REPOSITORY = "snowsage/lambda-python3.12-standin"
# The parts of a CPython install that nothing at run time imports (tests, IDLE, Tk, the static
# library, headers, pip and the rest of the build machine's site-packages).
DROPPED = {
    "include",
    "share",
    "pkgconfig",
    "site-packages",
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
}
DROPPED_PREFIXES = ("config-3.12", "_tkinter", "_test", "xxlimited", "_xxtestfuzz", "python3.12d")
# Lambda's python3.12 image sets these (AWS Lambda Developer Guide, "Defined runtime environment variables").
ENVIRONMENT = {
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": (
        "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
    ),
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LANG": "C.UTF-8",
    "TZ": ":UTC",
}
# Every extension module a handler, boto3 or the connector may load: the build fails if a library is missing.
SMOKE = (
    "import ssl, ctypes, sqlite3, lzma, bz2, zlib, uuid, pyexpat, decimal, hashlib, json, "
    "awslambdaric.bootstrap, runtime_client, boto3; print(ssl.OPENSSL_VERSION)"
)


def packages() -> list[str]:
    lines = (RUNTIME / "packages.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def python_prefix(python: Path) -> Path:
    """The install a venv's python belongs to (the build copies that, not the venv)."""
    out = subprocess.run(
        [python, "-c", "import sys; print(sys.base_prefix)"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


def digest(python: Path) -> str:
    """What goes into the image: this builder, runtime/, the lock file, and the Python build's library."""
    sha = hashlib.sha256()
    for path in [Path(__file__), LOCK, *sorted(RUNTIME.iterdir())]:
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    version = subprocess.run([python, "-VV"], check=True, capture_output=True, text=True).stdout
    sha.update(version.encode())
    library = python_prefix(python) / "lib" / "libpython3.12.so.1.0"
    sha.update(library.read_bytes() if library.exists() else b"static")
    return sha.hexdigest()[:16]


def tag_for(python: Path) -> str:
    return f"{REPOSITORY}:{digest(python)}"


def exists(tag: str) -> bool:
    try:
        client().images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in DROPPED or n.startswith(DROPPED_PREFIXES)}


def _unpack_debian(root: Path, work: Path) -> None:
    debs = work / "debs"
    debs.mkdir()
    names = packages()
    # The machine's own apt sources and lists (the engine's install ran apt-get update on a new machine).
    download = ["apt-get", "-o", "APT::Sandbox::User=root", "download", *names]
    if subprocess.run(download, cwd=debs, check=False).returncode != 0:
        apt_get("update")
        subprocess.run(download, cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "--extract", str(deb), str(root)], check=True)
    # Debian 12 is /usr-merged: /bin, /lib and /lib64 are links into /usr (the packages still name /bin/sh).
    for merged in ("bin", "sbin", "lib", "lib64"):
        target = root / merged
        if target.is_dir() and not target.is_symlink():
            usr = root / "usr" / merged
            usr.mkdir(parents=True, exist_ok=True)
            shutil.copytree(target, usr, symlinks=True, dirs_exist_ok=True)
            shutil.rmtree(target)
        if not target.exists():
            target.symlink_to(f"usr/{merged}")


def _assemble(root: Path, work: Path, python: Path) -> None:
    _unpack_debian(root, work)
    lang = root / "var" / "lang"
    shutil.copytree(python_prefix(python), lang, symlinks=True, ignore=_ignore)
    site_packages = lang / "lib" / "python3.12" / "site-packages"
    site_packages.mkdir()
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", "--target", str(site_packages), "-r", str(LOCK)],
        check=True,
    )  # fmt: skip
    runtime = root / "var" / "runtime"
    runtime.mkdir(parents=True)
    for name in ("bootstrap", "bootstrap.py"):
        shutil.copy2(RUNTIME / name, runtime / name)
    for folder in ("var/task", "opt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)


def build(python: Path, *, log: Any = sys.stderr) -> str:
    """The stand-in image's tag, built first when no image has it."""
    tag = tag_for(python)
    if exists(tag):
        print(f"stand-in image {tag}: cached", file=log)
        return tag
    print(f"stand-in image {tag}: building", file=log)
    scratch = ROOT / "build"
    scratch.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="lambda-image-") as folder:
        work = Path(folder)
        root = work / "root"
        root.mkdir()
        _assemble(root, work, python)
        archive = work / "root.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."], check=True)
        changes = [f"ENV {name}={value}" for name, value in ENVIRONMENT.items()] + ["WORKDIR /var/task"]
        repository, version = tag.split(":")
        client().api.import_image_from_file(str(archive), repository=repository, tag=version, changes=changes)
    out = client().containers.run(tag, ["/var/lang/bin/python3.12", "-c", SMOKE], remove=True)
    print(f"stand-in image {tag}: built ({out.decode().strip()})", file=log)
    remove(keep=tag)
    return tag


def remove(keep: str | None = None, *, log: Any = sys.stderr) -> None:
    """Remove the stand-in images other than ``keep`` (all of them: the next run builds from scratch),
    and the images sam built on them (its emulator and layers on top), which would keep them alive."""
    old = {found.id for found in client().images.list(name=REPOSITORY) if keep not in found.tags}
    if not old:
        return
    built_on = [
        found
        for found in client().images.list()
        if found.id not in old and old & {layer.get("Id") for layer in found.history()}
    ]
    for found_id in [found.id for found in built_on] + sorted(old):
        try:
            client().images.remove(found_id, force=True)
        except docker.errors.ImageNotFound:
            continue  # went with an image removed before it
        except docker.errors.APIError as error:  # in use by a container: the next build retries
            print(f"stand-in image: {found_id} not removed: {error}", file=log)


if __name__ == "__main__":
    # python -m scripts.sam_local.image [--remove]: build (or find) the image and print its tag.
    if sys.argv[1:] == ["--remove"]:
        remove()
    else:
        print(build(Path(os.environ.get("PYTHON", sys.executable))))
