"""Sentence segmentation for prose (news, documentation, wrapped text), as character spans of the original text.

The chunker, citation verification and the extractive answerer all need the same notion of
"a sentence", expressed as offsets into the document text so that quotes can be cited exactly.
The rules are deliberately simple and fast (one regex scan per line):

* A line break ends a sentence (news articles put one paragraph per line), except in wrapped
  text (Markdown, plain text, PDF pages): a line of prose that does not end a sentence,
  followed by a line that begins with a lowercase letter, continues on it. "Prose" is a long
  line of mostly plain words, so code, tables and headings keep one line per sentence.
* `.`, `!`, `?`, `...` and `…`, optionally followed by closing quotes or brackets, end a
  sentence when whitespace follows and the next word does not start with a lowercase letter.
* A period after a known abbreviation (Mr., Gen., U.S., Jan., Inc., an initial like "J.")
  does not end a sentence, except that "soft" abbreviations which often close a sentence
  (Inc., U.S., p.m., initials) do when the next word is a typical sentence opener ("The").

Merging two sentences by mistake is preferred to splitting one, because a split sentence
makes a citation quote look unsupported.
"""

from __future__ import annotations

import re

__all__ = ["sentence_spans"]

# The same characters `str.splitlines` breaks on ("\r\n" is one break).
_LINE_BREAK_RE = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# Wrapped text: a line continues on the next when it is prose (at least `_WRAP_MIN_CHARS`
# characters and `_WRAP_MIN_WORDS` words, most of them plain words), does not end a sentence
# or open a list (":"), and the next line begins with a lowercase letter. Lines a writer
# wrapped are nearly full (60-80 characters); code lines are rarely mostly plain words.
_WRAP_MIN_CHARS, _WRAP_MIN_WORDS, _WRAP_WORD_SHARE = 50, 6, 0.6
_PLAIN_WORD_RE = re.compile(r"[\"'“‘(\[`*_]*[^\W\d_][\w'’-]*[\"'”’)\]`*_,;]*")
_LINK_TARGET_RE = re.compile(r"\]\([^)\s]*\)")  # a Markdown link's "(url)"
_NOT_PROSE_RE = re.compile(r"(?:```|~~~|#|\||>>>|\$ )")
_NEXT_CHAR_RE = re.compile(r"[ \t]*(\S)")

_CLOSERS = "\"'”’»)]}"
_OPENERS = "\"'“‘«([{*_-–—¿¡"
# A line that ends a sentence (closers and Markdown emphasis may follow) or opens a list.
_ENDS_SENTENCE_RE = re.compile(rf"(?:[.!?…][{re.escape(_CLOSERS)}*_`]*|:)$")
# A whole run of terminal punctuation, optional closing quotes/brackets, then whitespace or the
# end of the scanned range (finditer's endpos is the line end, so `$` means end of line). The
# lookbehind makes a match start only at the beginning of a run, which keeps the scan linear
# on pathological input such as ten thousand dots.
_TERMINAL_RE = re.compile(r"(?<![.!?…])[.!?…]+[\"'”’»)\]}]*(?=\s|$)")
_ACRONYM_RE = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")

# Titles before a name: a period after them never ends a sentence.
_TITLES = frozenset(
    """mr mrs ms messrs mmes dr prof gen lt col sgt capt cmdr adm maj gov sen rep rev fr hon
    pres supt insp cpl pvt brig gens sens reps lieut cmdt mme mlle sra srta vs v e.g i.e cf
    viz approx ca""".split()
)
# Abbreviations followed by a number ("No. 1", "Jan. 5", "Vol. 2").
_NUMBER_ABBREVIATIONS = frozenset(
    """no nos vol vols pp p art fig figs ch sec para op jan feb mar apr jun jul aug sep sept oct
    nov dec""".split()
)
# Abbreviations that often end a sentence too.
_SOFT_ABBREVIATIONS = frozenset(
    """inc corp co ltd llc plc bros jr sr st etc al dept univ ave rd blvd est mt ft pt hwy
    jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
# Words that typically open a sentence; after a soft abbreviation they signal a boundary.
_STARTERS = frozenset(
    """the a an he she it they we i you but this that these those there his her its their our
    in on at after before when while however meanwhile as if according some many most both yet
    still then thus so such one two three last since during despite although though officials
    what why how who where""".split()
)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split `text[start:end]` into sentences.

    Args:
        text: The whole document text (offsets are absolute in it).
        start: First character of the range to split.
        end: One past the last character of the range (default: end of text).

    Returns:
        `(s, e)` pairs in order, non-overlapping, within `[start, end]`, such that
        `text[s:e]` is one sentence with no leading or trailing whitespace. Every
        non-whitespace character of the range lies in exactly one span.
    """
    n = len(text)
    start = min(max(start, 0), n)
    end = n if end is None else min(max(end, start), n)
    spans: list[tuple[int, int]] = []
    piece_start = line_start = start
    while line_start <= end:
        brk = _LINE_BREAK_RE.search(text, line_start, end)
        line_end = brk.start() if brk else end
        if brk is not None and _wrapped(text, line_start, line_end, brk.end(), end):
            line_start = brk.end()  # the sentence goes on: split the lines together
            continue
        _split_line(text, piece_start, line_end, spans)
        if brk is None:
            break
        piece_start = line_start = brk.end()
    return spans


def _wrapped(text: str, line_start: int, line_end: int, next_start: int, end: int) -> bool:
    """Does the line `text[line_start:line_end]` (prose, not ending a sentence) go on in the
    line at `next_start`?"""
    first = _NEXT_CHAR_RE.match(text, next_start, end)
    if not first or not first.group(1).islower():
        return False
    line = text[line_start:line_end].strip()
    if len(line) < _WRAP_MIN_CHARS or _ENDS_SENTENCE_RE.search(line) or _NOT_PROSE_RE.match(line):
        return False
    words = _LINK_TARGET_RE.sub("]", line).split()
    plain = sum(bool(_PLAIN_WORD_RE.fullmatch(w)) for w in words)
    return len(words) >= _WRAP_MIN_WORDS and plain >= _WRAP_WORD_SHARE * len(words)


def _split_line(text: str, lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    """Append the sentence spans of one line `text[lo:hi]` (or of wrapped lines) to `out`."""
    piece_start = lo
    for match in _TERMINAL_RE.finditer(text, lo, hi):
        cut = match.end()
        if cut <= piece_start:
            continue
        if _is_boundary(text, match.start(), cut, hi):
            _append_stripped(text, piece_start, cut, out)
            piece_start = cut
    _append_stripped(text, piece_start, hi, out)


def _append_stripped(text: str, s: int, e: int, out: list[tuple[int, int]]) -> None:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if s < e:
        out.append((s, e))


def _is_boundary(text: str, mark_start: int, cut: int, line_end: int) -> bool:
    """Decide whether the terminal punctuation `text[mark_start:cut]` ends a sentence."""
    # The first word after the punctuation (skipping whitespace and opening quotes).
    j = cut
    while j < line_end and text[j].isspace():
        j += 1
    if j >= line_end:
        return True
    k = j
    while k < line_end and text[k] in _OPENERS:
        k += 1
    if k < line_end and text[k].islower():
        return False
    word_end = k
    while word_end < line_end and text[word_end].isalpha():
        word_end += 1
    next_word = text[k:word_end]

    mark = text[mark_start:cut]
    if mark.rstrip(_CLOSERS) != ".":
        return True  # "?", "!" or an ellipsis
    token = _word_before(text, mark_start)
    if not token:
        return True
    lowered = token.lower()
    if lowered in _TITLES:
        return False
    if lowered in _NUMBER_ABBREVIATIONS and k < line_end and text[k].isdigit():
        return False
    is_initial = len(token) == 1 and token.isalpha() and token.isupper()
    if lowered in _SOFT_ABBREVIATIONS or is_initial or _ACRONYM_RE.fullmatch(token):
        return next_word.lower() in _STARTERS
    return True


def _word_before(text: str, pos: int) -> str:
    """The whitespace-delimited word ending at `pos`, without leading opening punctuation."""
    i = pos
    while i > 0 and not text[i - 1].isspace():
        i -= 1
    word = text[i:pos]
    return word.lstrip(_OPENERS)
