"""Saved chats in a real browser: `streamlit run` driven by headless Chromium.

Real: the streamlit server (started twice on the same data folder), the browser, Chroma, the
SQLite history and the extractive answers. The embedder is the hash embedder (through the
test hook of `ui/state.py`, see `tests/hash_embedder_app.py`): this test is about keeping
chats, not about retrieval quality, and must not load a model. Screenshots land in
tests/artifacts/ (the sidebar one is the README's `docs/sidebar.png`).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from test_browser import _need_browser, _streamlit, _wait_idle, browser_page

from assistant.retrieval.embedder import HashEmbedder
from assistant.settings import Settings
from ingest import ingest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "hash_embedder_app.py"
ARTIFACTS = ROOT / "tests" / "artifacts"
QUESTIONS = ("Where does Hyun Seung-soo work?", "How many troops did North Korea send?")
SOURCE = "000_ef01f84a8e898d1e.txt"
STARTUP_S, ANSWER_S = 120, 120


def streamlit_server(data: Path):
    """A streamlit server of the app on a free port, answering extractively from `data`."""
    return _streamlit(APP, data, RAG_LLM="extractive")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    _need_browser()
    data = tmp_path / "data"
    ingest([ROOT / "seeds"], settings=Settings(data_dir=data, backend="extractive"), embedder=HashEmbedder(64))
    return data


def ask(page, question: str, answers_before: int) -> None:
    from playwright.sync_api import expect

    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    # The facts line under an answer is drawn once the answer is complete. While a run is in
    # flight the page can briefly hold stale copies of earlier elements, so the count alone is
    # not enough: also wait for the answers themselves and for the run to end.
    expect(page.get_by_text(re.compile(r"passages cited"))).to_have_count(answers_before + 1, timeout=ANSWER_S * 1000)
    expect(page.locator(".dc-answer")).to_have_count(answers_before + 1, timeout=ANSWER_S * 1000)
    _wait_idle(page, ANSWER_S)


def reopen(page, title: str) -> None:
    from playwright.sync_api import expect

    sidebar = page.get_by_test_id("stSidebar")
    chat = sidebar.get_by_role("button", name=title)
    expect(chat).to_be_visible(timeout=STARTUP_S * 1000)
    expect(page.locator(".dc-answer")).to_have_count(0)  # a fresh session: nothing shown yet
    chat.click()
    expect(page.locator(".dc-answer")).to_have_count(len(QUESTIONS), timeout=30_000)


def shown(page, timeout: float = 30.0) -> tuple[list[str], list[str]]:
    """The answers' text and the cited files, as on the page, once every answer's sources are
    drawn (one card per distinct `[n]` of its text; the cards' HTML may arrive a moment after
    the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        answers = page.locator(".dc-answer").all_inner_texts()
        files = page.locator(".dc-src-file").all_inner_texts()
        cited = sum(len(set(re.findall(r"\[(\d+)\]", text))) for text in answers)
        if len(files) == cited or time.monotonic() > deadline:
            return answers, files
        page.wait_for_timeout(200)


def screenshot_sidebar(page, path: Path) -> None:
    """The top of the sidebar (navigation, chats, the open chat's actions)."""
    box = page.get_by_test_id("stSidebar").bounding_box()
    page.wait_for_timeout(500)  # the expander's opening animation
    page.screenshot(path=path, clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": 720})


@pytest.mark.timeout(900)
def test_chats_survive_a_reload_and_a_server_restart(data_dir):
    from playwright.sync_api import expect

    with browser_page() as page:
        with streamlit_server(data_dir) as url:
            page.goto(url)
            expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=STARTUP_S * 1000)
            for i, question in enumerate(QUESTIONS):
                ask(page, question, i)
            before = shown(page)
            assert SOURCE in before[1] and len(before[0]) == 2, before
            page.screenshot(path=ARTIFACTS / "history_01_asked.png")

            page.reload()  # a new session: the conversation is gone from the page...
            reopen(page, QUESTIONS[0])  # ...and comes back from the sidebar
            assert shown(page) == before
            expect(page.locator(".dc-src-passage mark").first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "history_02_reopened.png")

        with streamlit_server(data_dir) as url:  # the same data folder, a new process
            page.goto(url)
            reopen(page, QUESTIONS[0])
            assert shown(page) == before
            page.screenshot(path=ARTIFACTS / "history_03_after_restart.png")

            # A second chat is listed above the first; the first is unchanged.
            page.get_by_role("button", name="New chat").click()
            expect(page.locator(".dc-answer")).to_have_count(0)
            ask(page, "Why might South Korea arm Ukraine?", 0)
            sidebar = page.get_by_test_id("stSidebar")
            listed = sidebar.locator(".st-key-chats-list button")
            expect(listed).to_have_count(2, timeout=ANSWER_S * 1000)  # drawn at the end of the run
            titles = listed.all_inner_texts()
            assert [t.split("\n")[-1] for t in titles] == ["Why might South Korea arm Ukraine?", QUESTIONS[0]]
            sidebar.get_by_text("This chat").click()
            expect(sidebar.get_by_role("button", name="Delete chat")).to_be_visible()
            screenshot_sidebar(page, ARTIFACTS / "sidebar.png")

            with page.expect_download() as download:
                sidebar.get_by_role("button", name="Export as Markdown").click()
            assert download.value.suggested_filename == "Why-might-South-Korea-arm-Ukraine.md"
            exported = Path(download.value.path()).read_text(encoding="utf-8")
            assert exported.startswith("# Why might South Korea arm Ukraine?\n")
            assert "**Sources**" in exported and "1. `" in exported and "   > " in exported
