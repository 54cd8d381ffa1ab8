"""The real app in a real browser: `streamlit run ui/app.py` driven by headless Chromium.

`test_ask_in_the_browser_and_open_the_cited_source` fakes nothing: the real MiniLM embedder,
a real Chroma folder, the real 0.5B local model (RAG_LLM=local-small). The sample articles
are indexed through the UI's own button, then a question is asked and its source opened.

`test_collections_in_the_browser` drives the sidebar's collections (create, upload into,
ask, switch back) in the same real app and browser, with the hash embedder and a scripted
chat model put in through the session-state hooks of `ui/state.py` (a two-line wrapper
script sets them, then runs `ui/app.py`), so it needs no model. Screenshots land in
tests/artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "ui" / "app.py"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
QUESTION = "Where does Hyun Seung-soo work?"
FACT = "Korea Institute for National Unification"
SOURCE = "000_ef01f84a8e898d1e.txt"
# Generous: under CPU contention the first answer includes loading the model.
STARTUP_S, INGEST_S, ANSWER_S = 120, 300, 420


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _need_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the 'test' extra)")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """A streamlit server on a free port with an empty data folder; always stopped after."""
    _need_browser()
    from assistant.errors import ModelUnavailableError
    from assistant.generation.models import MODELS, part_files

    try:
        part_files(MODELS["local-small"])
    except ModelUnavailableError as e:
        pytest.skip(f"the 0.5B model is not installed: {e}")

    data = tmp_path_factory.mktemp("browser-data")
    with _streamlit(APP, data, RAG_LLM="local-small") as url:
        yield url


@contextlib.contextmanager
def browser_page():
    """A page of headless Debian Chromium, 1400x1000, closed after (tests/artifacts/ is made for
    the screenshots)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


@contextlib.contextmanager
def _streamlit(script: Path, data: Path, **env_vars: str):
    """`streamlit run script` on a free port with `data` as RAG_DATA_DIR; always stopped after."""
    log = data / "streamlit.log"
    port = _free_port()
    skip = {"OPENAI_BASE_URL", "RAG_MODEL", "RAG_CHROMA_HOST", "RAG_TOP_K", "RAG_COLLECTION"}
    env = {k: v for k, v in os.environ.items() if k not in skip}
    # This checkout first, also for a wrapper script outside it.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(RAG_DATA_DIR=str(data), HF_HUB_OFFLINE="1", **env_vars)
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    # cwd: ui/, so the app's own .streamlit/config.toml (its theme) applies, also to a wrapper script.
    with open(log, "ab") as out:  # appended: a test may start two servers on one data folder
        proc = subprocess.Popen(
            cmd, cwd=ROOT / "ui", env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log, STARTUP_S)
        yield url
    finally:
        # The server runs in its own process group (start_new_session): stop exactly that group.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.mark.timeout(1200)
def test_ask_in_the_browser_and_open_the_cited_source(app_url):
    from playwright.sync_api import expect

    with browser_page() as page:
        page.goto(app_url)

        # Empty data folder: the app offers to index the sample articles.
        ingest_button = page.get_by_role("button", name="Ingest the sample articles")
        expect(ingest_button).to_be_visible(timeout=STARTUP_S * 1000)
        page.screenshot(path=ARTIFACTS / "browser_01_no_index.png")
        ingest_button.click()
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text(re.compile(r"5 added"))).to_be_visible(timeout=INGEST_S * 1000)
        expect(sidebar.get_by_test_id("stMetricValue").first).to_have_text("5")
        page.screenshot(path=ARTIFACTS / "browser_02_indexed.png")

        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(QUESTION)
        box.press("Enter")
        expect(page.get_by_text(QUESTION)).to_be_visible(timeout=30_000)
        page.screenshot(path=ARTIFACTS / "browser_03_asked.png")

        # The facts line is drawn once the streamed answer is complete.
        facts = page.get_by_text(re.compile(r"passages cited|none answers"))
        expect(facts).to_be_visible(timeout=ANSWER_S * 1000)
        page.screenshot(path=ARTIFACTS / "browser_04_answer.png")
        expect(facts).to_contain_text("qwen2.5-coder-0.5b")  # the real model answered
        answer = page.locator(".dc-answer").last
        expect(answer).to_contain_text(FACT)
        expect(answer.locator(".dc-cite").first).to_have_text(re.compile(r"\[\d+\]"))

        files = page.locator(".dc-src-file")
        names = files.all_inner_texts()
        assert SOURCE in names, names
        card = names.index(SOURCE)
        passage_mark = page.locator(".dc-src-passage").nth(card).locator("mark")
        expect(passage_mark).to_contain_text("Hyun Seung-soo")

        page.get_by_role("button", name="Open in document").nth(card).click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible(timeout=30_000)
        mark = dialog.locator("mark.dc-mark")
        expect(mark).to_have_count(1)
        expect(mark).to_contain_text(FACT)
        expect(mark).to_be_in_viewport(timeout=10_000)  # scrolled to the cited sentence
        expect(dialog.locator(".dc-doc")).to_contain_text("close")  # the whole document
        page.screenshot(path=ARTIFACTS / "browser_05_document.png")


# A scripted model that answers with the first evidence sentence, cited [1].
_HOOKED_APP = """
import re, runpy
import streamlit as st
from assistant.generation.llm import ScriptedChat
from assistant.retrieval.embedder import HashEmbedder
from ui.state import CHAT_MODEL_KEY, EMBEDDER_KEY


def first_evidence(messages):
    first = re.search(r"^\\[1\\] (.*)$", messages[-1]["content"], re.MULTILINE)
    return first.group(1).rstrip(".") + " [1]." if first else "NOT_FOUND"


st.session_state.setdefault(EMBEDDER_KEY, HashEmbedder(64))
st.session_state.setdefault(CHAT_MODEL_KEY, ScriptedChat([first_evidence] * 500))
runpy.run_path({app!r}, run_name="__main__")
"""
KEEPER = "The lighthouse keeper of Vardo is named Ingrid Solberg. She has kept the lamp since 1998.\n"
KEEPER_QUESTION = "Who is the lighthouse keeper of Vardo?"


@pytest.fixture
def hooked_app_url(tmp_path: Path):
    """The real app with the hash embedder and a scripted chat model (ui/state.py's hooks)."""
    _need_browser()
    script = tmp_path / "hooked_app.py"
    script.write_text(_HOOKED_APP.format(app=str(APP)), encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    with _streamlit(script, data, RAG_LLM="local") as url:
        yield url


def choose(page, combobox, option: str) -> None:
    """Pick `option` in a Streamlit selectbox. A rerun that ends just after the click (the
    sidebar is redrawn at the end of a run) can close the list before the option is clicked
    (seen in CI): then the list is opened again, at most three times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        combobox.click()
        try:
            page.get_by_role("option", name=option).click(timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")


def _wait_idle(page, timeout_s: float = 60) -> None:
    """Wait until the app's script run is over (Streamlit marks it on the stApp element)."""
    from playwright.sync_api import expect

    app = page.get_by_test_id("stApp")
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_s * 1000)


def _last_cited_files(page) -> list[str]:
    """The cited file names under the newest answer, once it is complete."""
    from playwright.sync_api import expect

    last = page.get_by_test_id("stChatMessage").last
    expect(last.get_by_text(re.compile(r"passages cited|none answers"))).to_be_visible(timeout=ANSWER_S * 1000)
    return last.locator(".dc-src-file").all_inner_texts()


@pytest.mark.timeout(900)
def test_collections_in_the_browser(hooked_app_url, tmp_path: Path):
    """Create a collection, upload a .docx into it, ask and see it cited; back in the default
    collection the same question never cites it."""
    import docx  # python-docx, as a user's word processor would write it
    from playwright.sync_api import expect

    upload = tmp_path / "keeper.docx"
    report = docx.Document()
    report.add_heading("Lighthouses of the north coast", level=1)
    report.add_paragraph(KEEPER.strip())
    report.save(upload)
    with browser_page() as page:
        page.goto(hooked_app_url)
        sidebar = page.get_by_test_id("stSidebar")

        # The default collection gets the sample articles.
        ingest_button = page.get_by_role("button", name="Ingest the sample articles")
        expect(ingest_button).to_be_visible(timeout=STARTUP_S * 1000)
        ingest_button.click()
        expect(sidebar.get_by_text(re.compile(r"5 added"))).to_be_visible(timeout=INGEST_S * 1000)

        # A new collection, chosen at once and empty.
        sidebar.get_by_text("New collection").click()
        name_box = sidebar.get_by_label("Name")
        name_box.fill("lighthouses")
        name_box.press("Enter")
        _wait_idle(page)  # a click during the rerun that Enter starts can be lost
        sidebar.get_by_role("button", name="Create collection").click()
        expect(sidebar.get_by_text("Collection lighthouses is ready")).to_be_visible(timeout=60_000)
        picker = sidebar.get_by_role("combobox", name="Collection")
        expect(picker).to_have_value("lighthouses")
        expect(sidebar.get_by_text("No documents indexed yet.")).to_be_visible()

        # Upload into it.
        sidebar.locator("input[type=file]").set_input_files(str(upload))
        expect(sidebar.get_by_text("Added keeper.docx.")).to_be_visible(timeout=INGEST_S * 1000)
        expect(sidebar.get_by_test_id("stMetricValue").first).to_have_text("1")
        page.screenshot(path=ARTIFACTS / "browser_collections_01_uploaded.png")

        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(KEEPER_QUESTION)
        box.press("Enter")
        assert set(_last_cited_files(page)) == {"keeper.docx"}
        expect(page.locator(".dc-answer").last).to_contain_text("Ingrid Solberg")
        page.screenshot(path=ARTIFACTS / "browser_collections_02_answer.png")

        # Back to the default collection: the same question never cites the upload.
        choose(page, picker, "documents")
        expect(picker).to_have_value("documents")
        expect(sidebar.get_by_test_id("stMetricValue").first).to_have_text("5")
        box.fill(KEEPER_QUESTION)
        box.press("Enter")
        expect(page.get_by_test_id("stChatMessage")).to_have_count(4, timeout=ANSWER_S * 1000)
        cited = _last_cited_files(page)
        assert "keeper.docx" not in cited, cited
        expect(page.get_by_test_id("stChatMessage").last).not_to_contain_text("keeper.docx")
        expect(page.get_by_test_id("stChatMessage").last).not_to_contain_text("Ingrid Solberg")
        page.screenshot(path=ARTIFACTS / "browser_collections_03_default.png")
