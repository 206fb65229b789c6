"""Getting dataset files onto the disk: download, verify, unpack, cache.

Every file is written atomically (a temporary name in the same folder, renamed when
complete) and checked against its published MD5 or SHA-256 before anything reads
it, so a cut-off download or a damaged cached copy is fetched again, never half-read.
Files live in the data folder ``$MINITORCH_CNN_DATA`` (default
``~/.cache/minitorch_cnn``). When the network cannot be reached the error says which
URL to fetch by other means, where to put the file and which checksum it must have.
"""
import gzip
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["ENV_VAR", "data_root", "check_folder", "DownloadError", "OfflineError",
           "ChecksumError", "file_digest", "check_integrity", "manual_steps", "download_url",
           "fetch", "extract_archive", "fetch_and_extract"]

ENV_VAR = "MINITORCH_CNN_DATA"
DEFAULT_ROOT = "~/.cache/minitorch_cnn"
CHUNK = 1 << 16


def data_root():
    """The data folder: ``$MINITORCH_CNN_DATA`` if set, else ~/.cache/minitorch_cnn."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_ROOT).expanduser()


def check_folder(folder, what="the data"):
    """Refuse a data folder that is a file, or lies inside one, with a message that says
    so (instead of "put the archive at <file>/..." later on)."""
    folder = Path(folder)
    for existing in (folder, *folder.parents):
        if existing.exists():
            if existing.is_dir():
                return folder
            where = "is a file" if existing == folder else f"lies inside a file ({existing})"
            raise NotADirectoryError(
                f"the data folder for {what}, {folder}, {where}, not a folder: give a folder "
                f"instead (root= or --data-dir; ${ENV_VAR} is now "
                f"{os.environ.get(ENV_VAR) or 'unset'})")
    return folder


class DownloadError(RuntimeError):
    """A file could not be obtained (or unpacked); the message says what to do."""


class OfflineError(DownloadError):
    """The server could not be reached at all (no network, DNS, refused, timed out)."""


class ChecksumError(DownloadError):
    """A file arrived complete but with the wrong content."""


# ------------------------------------------------------------------ checksums
def _expected(md5, sha256):
    """('sha256', hex) or ('md5', hex) or (None, None): the checksum to verify."""
    if sha256:
        return "sha256", sha256.lower()
    if md5:
        return "md5", md5.lower()
    return None, None


def file_digest(path, algorithm="md5"):
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_integrity(path, md5=None, sha256=None):
    """True if ``path`` exists and (when a checksum is given) matches it."""
    if not os.path.isfile(path):
        return False
    algo, want = _expected(md5, sha256)
    return algo is None or file_digest(path, algo) == want


def manual_steps(files, what="the data"):
    """How to install files by hand. ``files``: list of (urls, path, md5, sha256)."""
    lines = [f"To install {what} by hand:",
             "  1. On a machine with internet access (a browser is fine), download:"]
    for urls, path, _, _ in files:
        lines.append(f"       {urls[0]}")
        lines += [f"         (or {u})" for u in urls[1:]]
    lines.append("  2. Put each file, unchanged and under the same name, at:")
    lines += [f"       {path}" for _, path, _, _ in files]
    lines.append("  3. Check each file's checksum:")
    for _, path, md5, sha256 in files:
        algo, want = _expected(md5, sha256)
        tool = {"md5": "md5sum", "sha256": "sha256sum"}.get(algo)
        lines.append(f"       {tool} {Path(path).name}  ->  {want}" if algo
                     else f"       {Path(path).name}: no checksum published")
    lines.append("Then run again: the files are verified and unpacked automatically.")
    lines.append(f"(Datasets made without root= keep their files in ${ENV_VAR} "
                 f"(now {os.environ.get(ENV_VAR) or 'unset'}), else in {DEFAULT_ROOT}.)")
    return "\n".join(lines)


# ------------------------------------------------------------------ download
def _network_error(url, e):
    """A network failure as OfflineError (unreachable) or DownloadError (server said no)."""
    if isinstance(e, urllib.error.HTTPError):
        return DownloadError(f"{url}: the server answered HTTP {e.code} {e.reason}")
    reason = getattr(e, "reason", e)
    if isinstance(e, http.client.HTTPException):
        return OfflineError(f"{url}: the connection broke off ({type(e).__name__}: {e})")
    return OfflineError(f"{url}: cannot reach the server ({type(reason).__name__}: {reason})")


def download_url(url, path, md5=None, sha256=None, progress=True, timeout=30):
    """Download ``url`` to ``path`` with a tqdm progress bar, atomically, and verify it.

    The bytes go to a temporary file next to ``path``; only when the transfer is
    complete (as long as the server's Content-Length) and the checksum matches is it
    renamed to ``path``. Raises OfflineError when the server cannot be reached,
    ChecksumError on a content mismatch, DownloadError otherwise (HTTP errors, a
    cut-off transfer). No partial file is ever left at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    algo, want = _expected(md5, sha256)
    hasher = hashlib.new(algo) if algo else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                req = urllib.request.Request(url, headers={"User-Agent": "minitorch_cnn"})
                resp = urllib.request.urlopen(req, timeout=timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                raise _network_error(url, e) from e
            total = resp.headers.get("Content-Length")
            total = int(total) if total else None
            got = 0
            with resp, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                            desc=path.name, disable=not progress, leave=False) as bar:
                while True:
                    try:
                        chunk = resp.read(CHUNK)
                    except (http.client.HTTPException, OSError) as e:
                        raise _network_error(url, e) from e
                    if not chunk:
                        break
                    f.write(chunk)
                    if hasher:
                        hasher.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())         # on disk before the name points at it
        if total is not None and got != total:
            raise DownloadError(f"{url}: the transfer stopped after {got} of {total} bytes")
        if hasher and hasher.hexdigest() != want:
            raise ChecksumError(f"{url}: the downloaded file has {algo} {hasher.hexdigest()}, "
                                f"expected {want} (corrupted in transit, or the server "
                                f"holds a different file)")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def fetch(filename, urls, root, md5=None, sha256=None, download=True, progress=True,
          what=None, others=()):
    """``root/filename``, verified: a good cached copy is used as is; a corrupt or
    truncated one is deleted and fetched again; the ``urls`` (mirrors) are tried in
    order. Errors carry the manual steps for this file and for ``others``, more files
    of the same dataset given as (urls, path, md5, sha256)."""
    path = check_folder(root, what or filename) / filename
    urls = [urls] if isinstance(urls, str) else list(urls)
    what = what or filename
    steps = manual_steps([(urls, path, md5, sha256), *others], what)
    if path.exists():
        if check_integrity(path, md5, sha256):
            return path
        if not download:
            raise ChecksumError(f"{what}: {path} does not match its checksum (corrupt or "
                                f"truncated) and download=False.\n{steps}")
        warnings.warn(f"{path} does not match its checksum (corrupt or truncated): "
                      f"deleting it and fetching it again", RuntimeWarning, stacklevel=2)
        path.unlink()
    if not download:
        raise FileNotFoundError(f"{what}: {path} is missing and download=False.\n"
                                f"Pass download=True, or:\n{steps}")
    errors = []
    for url in urls:
        try:
            return download_url(url, path, md5, sha256, progress)
        except DownloadError as e:
            errors.append(e)
    reasons = "\n".join(f"  - {e}" for e in errors)
    if all(isinstance(e, OfflineError) for e in errors):
        raise OfflineError(f"Could not download {what}: no server could be reached; this "
                           f"machine seems to be offline.\n{reasons}\n{steps}")
    kind = ChecksumError if any(isinstance(e, ChecksumError) for e in errors) else DownloadError
    raise kind(f"Could not download {what}:\n{reasons}\n{steps}")


# ------------------------------------------------------------------ extraction
def _check_members(tar, dest):
    """Refuse members that would land outside ``dest`` or are links/devices."""
    dest = os.path.realpath(dest)
    for m in tar.getmembers():
        target = os.path.realpath(os.path.join(dest, m.name))
        if not (m.isfile() or m.isdir()) or not target.startswith(dest + os.sep):
            raise DownloadError(f"refusing to unpack {m.name!r} from {tar.name}: not a plain "
                                f"file or directory inside the destination")


def extract_archive(archive, dest):
    """Unpack ``archive`` into the folder ``dest`` and return what it wrote.

    .tar.gz / .tgz / .tar: the members go to a temporary folder inside ``dest``, then
    each top-level entry is renamed into place (replacing an older copy), so a crash
    never leaves a half-unpacked folder under the final name. .gz: the one
    decompressed file, ``dest/<name without .gz>``, written to a temporary file first.
    A damaged archive raises DownloadError."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name = archive.name
    tmp = tempfile.mkdtemp(prefix=f".{name}.", suffix=".unpack", dir=dest)
    try:
        if name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(archive) as tar:
                _check_members(tar, tmp)
                # Python >= 3.12 (and late 3.10/3.11 patch releases) can filter too
                kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, **kw)
            written = []
            for entry in sorted(os.listdir(tmp)):
                final = dest / entry
                if final.is_dir():
                    shutil.rmtree(final)
                os.replace(os.path.join(tmp, entry), final)
                written.append(final)
            return written
        if name.endswith(".gz"):
            final = dest / name[:-3]
            with gzip.open(archive, "rb") as src, open(os.path.join(tmp, final.name), "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            os.replace(os.path.join(tmp, final.name), final)
            return [final]
        raise DownloadError(f"extract_archive: unknown archive type {name!r} "
                            f"(expected .tar.gz, .tgz, .tar or .gz)")
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DownloadError(f"{archive} is damaged and cannot be unpacked ({type(e).__name__}: "
                            f"{e}); delete it and try again") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_and_extract(filename, urls, root, md5=None, sha256=None, download=True,
                      progress=True, what=None, force=False):
    """Make sure ``root`` holds the unpacked contents of a verified ``filename``.

    A stamp file ``root/.<filename>.unpacked`` records the checksum of the archive
    that was unpacked, so later runs skip both hashing and unpacking. ``force=True``
    verifies (and if needed re-fetches) the archive and unpacks it again. Without a
    checksum, an archive that fails to unpack is deleted and fetched once more."""
    root = Path(root)
    stamp = root / f".{filename}.unpacked"
    token = _expected(md5, sha256)[1] or "unverified"
    if not force and stamp.is_file() and stamp.read_text().strip() == token:
        return root
    archive = fetch(filename, urls, root, md5, sha256, download, progress, what)
    try:
        extract_archive(archive, root)
    except DownloadError:
        if token != "unverified" or not download:
            raise
        archive.unlink()
        extract_archive(fetch(filename, urls, root, md5, sha256, download, progress, what),
                        root)
    stamp_tmp = root / f".{filename}.unpacked.tmp"
    stamp_tmp.write_text(token)
    os.replace(stamp_tmp, stamp)
    return root
