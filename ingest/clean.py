"""Find the article content of a saved web page, leaving out its boilerplate.

Pages saved as text carry the site around the article: "close" buttons, "Read : <another
headline>" links, photo credits, comment forms ("Leave a Reply", "Your email address will not be
published"), paywall prompts ("Subscribe now to keep reading"), copyright and terms lines,
sign-in prompts, and the title printed twice. Indexing them would make retrieval return
"Leave a Comment" as evidence, so `content_blocks` returns only the spans that are article text.

The rules work line by line, because these pages put one paragraph per line:

1. A line matching a boilerplate pattern is removed. Patterns are anchored to whole short
   lines, so a real sentence that merely mentions "privacy policy" stays.
2. A line that exactly repeats an earlier content line is removed (titles often appear twice).
3. "Read also:" / "Related:" with nothing after the colon removes the headline on the next line.
4. A short headline-like line (no sentence punctuation) that is followed only by footer
   boilerplate or the end of the page is removed: a heading with no article after it is a
   site name or a link ("The New York Sun" above the copyright line), not a section title.

Blank lines are neutral: they stay inside a block between two content paragraphs. Every
removed line ends the current block, so no chunk ever spans removed boilerplate.
"""

from __future__ import annotations

import re

__all__ = ["content_blocks"]

_DECORATION = "*_#>|•·-–—=~`[](){}\"'“”‘’«» \t\u00a0"

_MAX_BOILERPLATE_WORDS = 45
_MAX_LABEL_WORDS = 12


def _compile(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_SEP = r"(?:\s*[:：»>|]\s*|\s+[–—-]\s+)"  # "Read : x", "Read » x", "Read - x" (not "Read-only")
_AGENCY = (
    r"(?:ap|afp|reuters|getty images|getty|epa|efe|yonhap|xinhua|kcna|tass|ria novosti|anadolu"
    r"|bloomberg|shutterstock|istock|alamy|pa images|pa|ians|pti|ap photo|afp photo|reuters photo)"
)
# "AP/Ahn Young-joon, file", "Getty Images", "Photo: Jane Doe/Reuters"
_CREDIT = (
    rf"{_AGENCY}(?:\s*(?:/|via|photo\b)\s*.{{0,60}})?"
    r"|[^\s/][^/]{0,40}/[^/]{1,40},\s*file(?: photo)?"
    r"|[^\s/][^/]{0,40}/\s*" + _AGENCY
)

# Interface words that appear alone on a line (buttons, menus, ads).
_UI_LINE = _compile(
    r"close|menu|search|share|share this|tweet|email|e-mail|print|whatsapp|facebook"
    r"|twitter|linkedin|reddit|telegram|flipboard|copy link|link copied|bookmark"
    r"|advertisement|advertisment|sponsored|sponsored content|promoted|ad"
    r"|skip to (?:main )?content|skip to navigation|back to top|scroll to top|go to top"
    r"|next article|previous article|loading\.*|please wait\.*|listen to this article"
    r"|show more|show less|see more|read more|view comments|\d+ comments?|no comments(?: yet)?"
    r"|cancel reply|post comment|accept all|reject all|accept cookies|got it|×|✕|close ×",
)

# Lines that belong to the page rather than the article, wherever they appear.
_NOISE = _compile(
    # "Read : <headline>", "Read more: <headline>", "Related: <headline>"
    r"(?:read|read also|also read|read more|more|see also|related|related articles?"
    r"|related stories|related news|recommended|recommended for you|you may also like"
    r"|you might also like|must read|don'?t miss|trending|trending now|most popular|most read"
    rf"|top stories|editor'?s picks?|watch|watch now|listen){_SEP}\S.*",
    # photo and image credits
    r"(?:image|images|photo|photos|photograph|picture|pictures|illustration|video|graphic"
    rf"|file photo|featured image)\s*(?:source|sources|credit|credits|courtesy|by)?{_SEP}.*",
    r"(?:photo|image|picture|photograph)s? (?:by|courtesy of|credit|via)\b.*",
    _CREDIT,
    r"(?:tags?|filed under|categories|topics)\s*[:：].{0,300}",
    r"this (?:article|story|post) (?:was )?(?:originally )?(?:appeared|published) (?:on|in)\b.{0,120}",
)

# Short page elements that could be mistaken for prose only if they were long.
_NOISE_SHORT = _compile(
    r"(?:share (?:this(?: article| story| post| page)?|on|via|with (?:friends|a friend))"
    r"|follow us|like us on|join us on|connect with us)\b.{0,80}",
    r"follow (?:@|on\b|us\b).{0,60}",
    r"click here\b.{0,120}",
)

# Page furniture that comes after the article (comments, paywall, legal, account).
_FOOTER = _compile(
    r"leave a (?:reply|comment|response)\b.*",
    r"your email address will not be published\b.*",
    r".*\brequired fields are marked\b.*",
    r"(?:name|email|e-mail|website|url|comment|message)\s*[*:]*\s*(?:\(required\))?",
    r"save my name,? email,? and website\b.*",
    r"notify me of (?:follow-up|new) (?:comments|posts)\b.*",
    r"this site uses akismet\b.*",
    r"you must be (?:logged|signed) in to (?:post|leave) a comment\b.*",
    r"(?:discover|read) more from\b.{0,80}",
    r"subscribe\b.{0,150}",
    r"continue reading\b.{0,80}",
    r"already (?:a subscriber|have an account|registered)\b.*",
    r"(?:©|\(c\)|copyright\b).*",
    r".{0,120}\ball rights reserved\b.*",
    r"use of this (?:site|website)\b.*",
    r".*\bprotected by copyright\b.*",
    r".{0,80}\bmay not be (?:reproduced|republished|redistributed)\b.*",
    r"(?:we use cookies|this (?:site|website) uses cookies)\b.*",
    r"(?:terms|privacy|cookies|contact us|about us|advertise|careers|sitemap)"
    r"(?:\s*[|·•]\s*(?:terms|privacy|cookies|contact us|about us|advertise|careers|sitemap))*",
)

# Footer phrases that are only boilerplate on a short line.
_FOOTER_SHORT = _compile(
    r"(?:post|submit|add|write) (?:a |your )?(?:comment|reply|response)\b.*",
    r"(?:sign|log) ?(?:in|up|out)(?:\s+(?:or|with|to|for|now|here)\b.{0,60})?",
    r"(?:or\s+)?create (?:a |an |your )?(?:free )?account\b.{0,60}",
    r".{0,60}\bkeep reading\b.{0,60}",
    r".{0,60}\bget (?:full |unlimited )?access to\b.{0,60}",
    r".{0,40}\b(?:sign up|signup|register) (?:for|to) (?:our|the|a) (?:free )?"
    r"(?:newsletter|daily|weekly|email)\b.*",
    r"(?:get|receive) (?:our|the) (?:free )?newsletter\b.*",
    r"by (?:continuing|signing up|clicking|subscribing|registering|using (?:this|our) "
    r"(?:site|website))\b.*\b(?:agree|accept|consent)\b.*",
)

# "Read also:" with the headline on the next line.
_LINK_INTRO = _compile(
    r"(?:read|read also|also read|read more|see also|related|related articles?|related stories"
    r"|recommended|you may also like|you might also like|must read|more on this(?: story)?"
    r"|more from [\w .'-]{1,40})\s*[:：»>|–—-]",
)

# A photo credit glued to the end of a caption: "... Seongnam, September 25, 2024. AP/Name, file"
_TRAILING_CREDIT = re.compile(rf"(?<=[.!?”\"])\s+(?:{_CREDIT})\s*$", re.IGNORECASE)

_SENTENCE_END = re.compile(r"[.!?…:;][\"'”’»)\]]*$")
_PRIVACY_CONTEXT = re.compile(r"\b(?:our|this site|this website|agree|accept|acceptance|consent)\b", re.I)
_LEGAL_PHRASE = re.compile(r"terms of (?:use|service)|privacy policy|cookie policy", re.I)

_MAX_SHORT_WORDS = 10

_CONTENT, _BLANK, _NOISE_KIND, _FOOTER_KIND, _DUPLICATE = range(5)


def content_blocks(text: str) -> list[tuple[int, int]]:
    """Spans of `text` that are article content, in order.

    Args:
        text: A document's text.

    Returns:
        `(start, end)` pairs, sorted and disjoint, each `text[start:end]` a maximal run of
        content lines (blank lines between them included) with no leading or trailing
        whitespace. Removed boilerplate never lies inside a span.
    """
    lines = _split_lines(text)
    kinds = [_classify(text[s:e]) for s, e in lines]
    _mark_duplicates(text, lines, kinds)
    _mark_link_headlines(text, lines, kinds)
    _mark_dangling_labels(text, lines, kinds)

    blocks: list[tuple[int, int]] = []
    block_start: int | None = None
    block_end = 0
    for (s, e), kind in zip(lines, kinds):
        if kind == _CONTENT:
            credit = _TRAILING_CREDIT.search(text, s, e)
            if block_start is None:
                block_start = s
            block_end = credit.start() if credit else e
            if credit:  # the removed credit ends the block
                blocks.append((block_start, block_end))
                block_start = None
        elif kind != _BLANK and block_start is not None:
            blocks.append((block_start, block_end))
            block_start = None
    if block_start is not None:
        blocks.append((block_start, block_end))
    return [span for span in (_strip(text, s, e) for s, e in blocks) if span[0] < span[1]]


def _split_lines(text: str) -> list[tuple[int, int]]:
    """Line spans without their "\\n" (a "\\r" before it is stripped later as whitespace)."""
    spans = []
    pos = 0
    n = len(text)
    while True:
        nl = text.find("\n", pos)
        if nl < 0:
            spans.append((pos, n))
            return spans
        spans.append((pos, nl))
        pos = nl + 1


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _normalize(line: str) -> str:
    """The line as compared with patterns: decoration stripped, whitespace collapsed."""
    return " ".join(line.split()).strip(_DECORATION)


def _classify(line: str) -> int:
    norm = _normalize(line)
    if not norm:
        # Only decoration ("***", "---"): neither content nor a page element.
        return _BLANK
    words = len(norm.split())
    if words > _MAX_BOILERPLATE_WORDS:
        return _CONTENT
    short = words <= _MAX_SHORT_WORDS
    if _UI_LINE.fullmatch(norm) or _NOISE.fullmatch(norm) or (short and _NOISE_SHORT.fullmatch(norm)):
        return _NOISE_KIND
    if _FOOTER.fullmatch(norm) or (short and _FOOTER_SHORT.fullmatch(norm)):
        return _FOOTER_KIND
    if _LEGAL_PHRASE.search(norm) and (_PRIVACY_CONTEXT.search(norm) or (short and not _SENTENCE_END.search(norm))):
        # "Use of this site ... our Terms of Use" is a footer; "Meta changed its privacy
        # policy in May, regulators said." is news.
        return _FOOTER_KIND
    return _CONTENT


def _mark_duplicates(text: str, lines: list[tuple[int, int]], kinds: list[int]) -> None:
    seen: set[str] = set()
    for i, (s, e) in enumerate(lines):
        if kinds[i] != _CONTENT:
            continue
        key = _normalize(text[s:e]).casefold()
        if key in seen:
            kinds[i] = _DUPLICATE
        else:
            seen.add(key)


def _is_label(line: str) -> bool:
    """A short line without sentence punctuation: a heading, a site name, a link."""
    norm = _normalize(line)
    return bool(norm) and len(norm.split()) <= _MAX_LABEL_WORDS and not _SENTENCE_END.search(norm)


def _mark_link_headlines(text: str, lines: list[tuple[int, int]], kinds: list[int]) -> None:
    """ "Read also:" on its own line, and the linked headline on the next line."""
    for i, (s, e) in enumerate(lines):
        if kinds[i] != _CONTENT or not _LINK_INTRO.fullmatch(_normalize(text[s:e])):
            continue
        kinds[i] = _NOISE_KIND
        j = i + 1
        while j < len(lines) and kinds[j] == _BLANK:
            j += 1
        if j < len(lines) and kinds[j] == _CONTENT and _is_label(text[lines[j][0] : lines[j][1]]):
            kinds[j] = _NOISE_KIND


def _mark_dangling_labels(text: str, lines: list[tuple[int, int]], kinds: list[int]) -> None:
    """Drop short label lines whose next real line is footer boilerplate."""
    # Walk backwards so a run of labels right above the footer goes as a whole; noise,
    # duplicates and blank lines in between do not count as article.
    footer_follows = False
    for i in range(len(lines) - 1, -1, -1):
        kind = kinds[i]
        if kind == _FOOTER_KIND:
            footer_follows = True
        elif kind == _CONTENT:
            s, e = lines[i]
            if footer_follows and _is_label(text[s:e]):
                kinds[i] = _FOOTER_KIND
            else:
                footer_follows = False
