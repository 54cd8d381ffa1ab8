"""HTML and text building for the chat UI, kept free of Streamlit so it can be unit-tested.

Safety rule: every piece of document text or model output is passed through `html.escape`
before it is put into markup, and the only tags in the result are the ones built here
(`<mark>`, `<span>`, `<div>`). Nothing from a document can become a tag or a script.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from assistant import Answer, Citation, Hit
from ingest.loaders import page_label

_MARKER = re.compile(r"\[(\d+)\]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def escape(text: str) -> str:
    """HTML-escape text (quotes included, so it is also safe inside attributes)."""
    return html.escape(text, quote=True)


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown (and Streamlit's `:color[...]`/`$latex$`) syntax in `text`.

    Used where plain text goes through `st.markdown`-based elements (`st.info`, `st.warning`),
    so a document or model saying `**x**`, `[a](b)` or `![i](u)` is shown as typed.
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def abstention_markdown(text: str) -> str:
    """An abstaining answer as Markdown: its first sentence in bold, the rest as plain text."""
    head, sep, rest = text.partition(". ")
    if not sep:
        return f"**{escape_markdown(text.strip())}**"
    return f"**{escape_markdown(head + '.')}**  \n{escape_markdown(rest.strip())}"


def highlight(text: str, start: int, end: int, *, mark_id: str | None = None) -> str:
    """Escaped `text` with `text[start:end]` wrapped in `<mark>`.

    Offsets are clamped to the text; an empty span gives plain escaped text.
    """
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    if start == end:
        return escape(text)
    id_attr = f' id="{escape(mark_id)}"' if mark_id else ""
    return f'{escape(text[:start])}<mark class="dc-mark"{id_attr}>{escape(text[start:end])}</mark>{escape(text[end:])}'


def answer_html(text: str, titles: Mapping[int, str] | None = None, *, streaming: bool = False) -> str:
    """The answer text as HTML with its `[n]` markers styled as small citation tags.

    Args:
        text: The answer (model output or quoted sentences): escaped here.
        titles: Marker number -> tooltip (the cited file name).
        streaming: Add a blinking caret (the answer is still being written).
    """
    titles = titles or {}

    def tag(m: re.Match) -> str:
        n = int(m.group(1))
        tip = f' title="{escape(titles[n])}"' if n in titles else ""
        return f'<span class="dc-cite"{tip}>[{n}]</span>'

    body = _MARKER.sub(tag, escape(text.strip()))
    caret = '<span class="dc-caret"></span>' if streaming else ""
    return f'<div class="dc-answer">{body}{caret}</div>'


def thinking_html(label: str = "Searching your documents") -> str:
    """A quiet placeholder shown until the first verified sentence arrives."""
    return (
        f'<div class="dc-thinking">{escape(label)}<span class="dc-dots">'
        "<span>.</span><span>.</span><span>.</span></span></div>"
    )


@dataclass(frozen=True)
class Passage:
    """The retrieved passage a citation's quote lies in, with the quote's place in it.

    Attributes:
        text: The passage (the hit chunk's text, or the quote alone if the chunk is unknown).
        start: Offset of the quote within `text`.
        end: One past the quote's end within `text`.
        title: Document title, when known.
    """

    text: str
    start: int
    end: int
    title: str = ""


def citation_passage(citation: Citation, hits: Sequence[Hit]) -> Passage:
    """Find the passage (hit chunk) holding `citation.quote` and locate the quote in it."""
    for hit in hits:
        chunk = hit.chunk
        if chunk.id != citation.chunk_id:
            continue
        rel = citation.start - chunk.start
        if rel >= 0 and chunk.text[rel : rel + len(citation.quote)] == citation.quote:
            return Passage(chunk.text, rel, rel + len(citation.quote), chunk.title)
        found = chunk.text.find(citation.quote)
        if found >= 0:
            return Passage(chunk.text, found, found + len(citation.quote), chunk.title)
        break
    return Passage(citation.quote, 0, len(citation.quote))


def line_label(citation: Citation, separator: str = " \u00b7 ") -> str:
    """ "line 63", "lines 63-65", plus the page when there is one: "page 4" in a PDF, "slide 4" in a
    deck, after `separator`. Every face says where a citation is this way (UI, export, CLI)."""
    first, last = citation.lines
    label = f"line {first}" if first == last else f"lines {first}\u2013{last}"
    if citation.page:
        label += f"{separator}{page_label(citation.source)} {citation.page}"
    return label


def display_title(title: str, *, limit: int = 90) -> str:
    """A document title worth showing: at least three words, shortened at a word boundary.

    Titles come from a heading or the first line, which for scraped pages can be
    leftovers such as "close"; those are not shown.
    """
    title = " ".join((title or "").split())
    if len(title.split()) < 3:
        return ""
    if len(title) > limit:
        title = title[:limit].rsplit(" ", 1)[0].rstrip(",;:.") + "\u2026"
    return title


def source_card_html(citation: Citation, passage: Passage) -> str:
    """One entry of the Sources block: number, file, lines, title, the passage with the
    supporting sentence highlighted."""
    shown = display_title(passage.title)
    title = f'<div class="dc-src-title">{escape(shown)}</div>' if shown and shown != citation.source else ""
    return (
        '<div class="dc-src">'
        '<div class="dc-src-head">'
        f'<span class="dc-src-n">{citation.n}</span>'
        f'<span class="dc-src-file">{escape(citation.source)}</span>'
        f'<span class="dc-src-lines">{escape(line_label(citation))}</span>'
        "</div>"
        f"{title}"
        f'<div class="dc-src-passage">{highlight(passage.text, passage.start, passage.end)}</div>'
        "</div>"
    )


def document_html(text: str, start: int, end: int, *, mark_id: str) -> str:
    """A whole document, escaped, in a scrollable box, with [start, end) marked as `mark_id`."""
    return f'<div class="dc-doc">{highlight(text, start, end, mark_id=mark_id)}</div>'


def scroll_script(mark_id: str) -> str:
    """A script that scrolls the element `mark_id` into view once it is on the page.

    It holds no document text: only this fixed code and an id made of safe characters.
    (No "<" inside: Streamlit's HTML sanitizer drops a script whose text looks like a tag.)
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", mark_id):
        raise ValueError("mark_id must be letters, digits, '-' or '_'")
    return (
        "<script>(function(){var tries=0;function go(){"
        f"var el=document.getElementById('{mark_id}');"
        "if(el){el.scrollIntoView({block:'center'});}"
        "else if(60>tries++){setTimeout(go,50);}}setTimeout(go,150);})();</script>"
    )


def _seconds(value: float | None) -> str:
    if value is None:
        return "\u2013"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def facts_line(answer: Answer, first_sentence: float | None = None) -> str:
    """The small line of facts under an answer: model, timings, passages used."""
    model = answer.model or answer.backend or "no model"
    first = first_sentence if first_sentence is not None else answer.timings.get("first_token")
    parts = [
        model,
        f"retrieval {_seconds(answer.timings.get('retrieval'))}",
        f"first sentence {_seconds(first)}",
        f"total {_seconds(answer.timings.get('total'))}",
        (
            f"{len(answer.hits)} passages searched, none answers"
            if answer.abstained
            else f"{len(answer.citations)} of {len(answer.hits)} passages cited"
        ),
    ]
    return " \u00b7 ".join(parts)


def removed_label(count: int) -> str:
    """ "1 sentence removed by the checks" (plural aware); what each failed is shown with it."""
    noun = "sentence" if count == 1 else "sentences"
    return f"{count} {noun} removed by the checks"


def removed_lines(answer: Answer) -> list[tuple[str, str]]:
    """(sentence, why) for each sentence the checks removed ("" when the reason is unknown)."""
    why = list(answer.removed_why) + [""] * (len(answer.unsupported) - len(answer.removed_why))
    return list(zip(answer.unsupported, why))


STYLE = """
<style>
:root {
  --dc-accent: #3b6ea8;
  --dc-mark: rgba(255, 212, 59, 0.45);
  --dc-border: rgba(128, 128, 128, 0.22);
  --dc-soft: rgba(128, 128, 128, 0.06);
}
.dc-answer { font-size: 1.02rem; line-height: 1.65; }
.dc-cite {
  display: inline-block; font-size: 0.72rem; font-weight: 600; line-height: 1;
  color: var(--dc-accent); background: rgba(59, 110, 168, 0.10);
  border-radius: 0.4rem; padding: 0.18rem 0.3rem; margin-left: 0.1rem;
  vertical-align: 0.15rem; cursor: help;
}
.dc-caret {
  display: inline-block; width: 0.5rem; height: 1rem; margin-left: 0.2rem;
  background: var(--dc-accent); opacity: 0.5; vertical-align: -0.15rem;
  animation: dc-blink 1s steps(2, start) infinite;
}
@keyframes dc-blink { to { visibility: hidden; } }
.dc-thinking { color: rgba(128, 128, 128, 0.95); font-style: italic; }
.dc-dots span { animation: dc-fade 1.4s infinite; opacity: 0; }
.dc-dots span:nth-child(2) { animation-delay: 0.2s; }
.dc-dots span:nth-child(3) { animation-delay: 0.4s; }
@keyframes dc-fade { 50% { opacity: 1; } }
.dc-sources-title {
  font-size: 0.78rem; font-weight: 600; letter-spacing: 0.06em; text-transform: uppercase;
  color: rgba(128, 128, 128, 0.95); margin: 0.4rem 0 -0.2rem 0;
}
.dc-src { padding: 0.1rem 0.1rem 0 0.1rem; }
.dc-src-head { display: flex; align-items: baseline; gap: 0.5rem; flex-wrap: wrap; }
.dc-src-n {
  font-size: 0.72rem; font-weight: 700; color: #fff; background: var(--dc-accent);
  border-radius: 0.4rem; padding: 0.12rem 0.42rem;
}
.dc-src-file { font-weight: 600; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.86rem; }
.dc-src-lines { font-size: 0.8rem; color: rgba(128, 128, 128, 0.95); }
.dc-src-title { font-size: 0.82rem; color: rgba(128, 128, 128, 1); margin-top: 0.15rem; }
.dc-src-passage {
  margin-top: 0.45rem; font-size: 0.9rem; line-height: 1.55; white-space: pre-wrap;
  max-height: 12rem; overflow-y: auto;
}
mark.dc-mark { background: var(--dc-mark); color: inherit; border-radius: 0.2rem; padding: 0.05rem 0.1rem; }
.dc-doc {
  white-space: pre-wrap; font-size: 0.92rem; line-height: 1.6; max-height: 62vh; overflow-y: auto;
  border: 1px solid var(--dc-border); border-radius: 0.6rem; padding: 0.9rem 1.1rem;
}
.dc-doc mark.dc-mark { outline: 2px solid rgba(255, 190, 0, 0.7); }
</style>
"""
"""Global CSS for the app (our own constant markup; injected once per page)."""
