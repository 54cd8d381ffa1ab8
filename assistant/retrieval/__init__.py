"""Finding passages: the embedder, the Chroma store, the BM25 index and hybrid retrieval."""
