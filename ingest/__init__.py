"""Ingestion: load documents, chunk them, embed them, and sync them into Chroma."""

from ingest.sync import SEEDS_DIR, IngestReport, ingest

__all__ = ["ingest", "IngestReport", "SEEDS_DIR"]
