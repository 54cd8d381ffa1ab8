"""`ui/app.py` with the hash embedder injected through the test hook of `ui/state.py`.

For browser tests of the UI's own behaviour (saved chats) that must not load MiniLM: the
streamlit server runs this file, which puts a `HashEmbedder(64)` into every new session
and then runs the real app unchanged. The index must be built with the same embedder.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st

from assistant.retrieval.embedder import HashEmbedder
from ui.state import EMBEDDER_KEY

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"

if EMBEDDER_KEY not in st.session_state:
    st.session_state[EMBEDDER_KEY] = HashEmbedder(64)
runpy.run_path(str(APP), run_name="__main__")
