"""Shared fixtures: settings in a temp folder, a hash embedder, a real seed index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.retrieval.embedder import HashEmbedder
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private data folder (local Chroma, caches) for one test."""
    return Settings(data_dir=tmp_path / "data", backend="extractive")


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    """A deterministic, instant embedder for tests of the code around the model."""
    return HashEmbedder(64)


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    """A writable copy of the seed articles."""
    dest = tmp_path / "docs"
    shutil.copytree(SEEDS, dest)
    for f in dest.iterdir():
        f.chmod(0o644)
    return dest


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Settings:
    """The seeds ingested once per session with the REAL MiniLM embedder and a real Chroma folder."""
    from ingest import ingest

    data = tmp_path_factory.mktemp("seed-index")
    settings = Settings(data_dir=data, backend="extractive")
    ingest([SEEDS], settings=settings)
    return settings
