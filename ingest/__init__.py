"""Ingestion: load documents, chunk them, embed them, and sync them into Chroma."""

from ingest.sync import SEEDS_DIR, IngestReport, create_collection, delete_collection, ingest, remove_documents

__all__ = ["SEEDS_DIR", "IngestReport", "create_collection", "delete_collection", "ingest", "remove_documents"]
