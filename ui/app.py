"""docchat's Streamlit app: `rag ui`, or `streamlit run ui/app.py`.

Two pages (`st.navigation`): the chat (`ui/views/chat.py`) and the evaluation report
(`ui/views/evaluation.py`). Settings come from `Settings.from_env()`; the embedder and chat
models are loaded once per process (`ui/state.py`, which also documents the two
session-state hooks tests use to inject a fake chat model and a hash embedder).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.markup import STYLE

VIEWS = Path(__file__).resolve().parent / "views"
# Sidebar choices that must survive a switch to the evaluation page and back (Streamlit
# forgets the state of widgets that a run does not draw, unless it is written back).
KEPT_WIDGETS = ("opt_backend", "opt_top_k", "opt_sources", "opt_openai_url", "opt_openai_model", "opt_collection")

st.set_page_config(
    page_title="docchat \u00b7 ask your documents",
    page_icon="\U0001f4ac",
    layout="wide",
    initial_sidebar_state="expanded",
)
st.html(STYLE)
for key in KEPT_WIDGETS:
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]

page = st.navigation(
    [
        st.Page(VIEWS / "chat.py", title="Chat", icon=":material/forum:", default=True),
        st.Page(VIEWS / "evaluation.py", title="Evaluation", icon=":material/monitoring:"),
    ]
)
page.run()
