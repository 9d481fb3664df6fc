"""The chapters' formulas as MathML, converted when the site is built.

Browsers draw MathML Core themselves (Chromium 109+, Firefox, Safari), so the
site needs no MathJax or KaTeX and still shows typeset math from ``file://``.
:func:`protect` takes ``$...$`` (inline) and ``$$...$$`` (display) out of a
markdown text before nbconvert renders it, leaving a placeholder of letters and
digits that markdown cannot touch (no ``_`` read as emphasis, no ``|`` read as
a table column); :func:`restore` then puts the MathML, made by
`latex2mathml <https://pypi.org/project/latex2mathml/>`_, where the
placeholders ended up.

The dollar rules are Pandoc's ``tex_math_dollars``: ``\\$`` is a plain dollar;
an opening ``$`` has a non-space right after it, a closing one a non-space
right before it and no digit right after it (so "costs $5 and $10" stays text);
nothing inside code spans or fenced code is math. A formula the converter
cannot handle is kept as its LaTeX in ``<code class="tex">`` and reported.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

__all__ = ["to_mathml", "find_math", "protect", "restore", "MathError"]

TOKEN = "TIPSLIBMATH{}Z"
TOKEN_RE = re.compile(r"TIPSLIBMATH(\d+)Z")

#: Commands latex2mathml (3.77+) lacks or gets wrong, rewritten to ones it handles.
PRETRANSLATE = [
    (re.compile(r"\\arg(?![A-Za-z])"), r"\\operatorname{arg}"),
    (re.compile(r"\\lVert(?![A-Za-z])"), r"\\|"),
    (re.compile(r"\\rVert(?![A-Za-z])"), r"\\|"),
    # latex2mathml writes aligned's '&' as a literal character; align* is the same layout, unnumbered.
    (re.compile(r"\\(begin|end)\{(align\*?|aligned)\}"), r"\\\1{align*}"),
]

MATHML = "http://www.w3.org/1998/Math/MathML"
ET.register_namespace("", MATHML)
MI, MO = f"{{{MATHML}}}mi", f"{{{MATHML}}}mo"
#: Symbols latex2mathml writes as identifiers (italic, no operator spacing) or as the wrong character.
AS_OPERATOR = {"~": "\u223c", "\u00b1": "\u00b1", "\u2213": "\u2213",  # \sim is U+223C, not the ASCII tilde
               "\u2308": "\u2308", "\u2309": "\u2309", "\u230a": "\u230a", "\u230b": "\u230b"}
#: Operators whose sub/superscripts go under/over them in display math, as in LaTeX.
LIMITS = {"\u2211", "\u220f", "max", "min", "lim", "sup", "inf"}
#: Delimiters latex2mathml leaves with relation spacing ("| x |", "1 / 3"); LaTeX puts no space around them.
BARS = {"|", "\u2016", "/"}


class MathError(ValueError):
    """A formula latex2mathml cannot convert faithfully."""


def to_mathml(tex, display=False):
    """``<math>`` for the LaTeX ``tex`` (without its dollars); raises :class:`MathError` when unsupported.

    The source is kept in an ``application/x-tex`` annotation (not drawn, but
    copied with the formula and read by some screen readers).
    """
    from latex2mathml.converter import convert

    source = tex.strip()
    if not source:
        raise MathError("empty formula")
    for pattern, replacement in PRETRANSLATE:
        source = pattern.sub(replacement, source)
    try:
        out = convert(source, display="block" if display else "inline")
    except Exception as e:  # the converter raises StopIteration, its own token errors, ...
        raise MathError(f"latex2mathml failed: {type(e).__name__}: {e}") from None
    try:
        root = ET.fromstring(out)
    except ET.ParseError as e:  # e.g. a raw '&' or '<' from \text{...}
        raise MathError(f"latex2mathml wrote malformed MathML: {e}") from None
    for node in root.iter():
        if "\\" in (node.text or ""):  # an unknown command comes back as its own name
            raise MathError(f"unsupported command {node.text.strip()!r}")
    _tidy(root)
    out = ET.tostring(root, encoding="unicode")
    head, _, rest = out.partition(">")
    body = rest[: -len("</math>")]
    note = f'<annotation encoding="application/x-tex">{html.escape(tex.strip(), quote=False)}</annotation>'
    math = f"{head}><semantics>{body}{note}</semantics></math>"
    # A wide display formula scrolls inside this box on a phone instead of being cut off.
    return f'<span class="math-display">{math}</span>' if display else math


def _tidy(root):
    """Fix what latex2mathml gets wrong for our formulas (see the tables above)."""
    for node in root.iter():
        if node.tag == MI and node.text in AS_OPERATOR:
            node.tag, node.text = MO, AS_OPERATOR[node.text]
            node.set("stretchy", "false")
        if node.tag == MO and node.text in BARS and "lspace" not in node.attrib:
            node.set("lspace", "0em")
            node.set("rspace", "0em")
    for parent in root.iter():
        children = list(parent)
        for k, child in enumerate(children):
            op = child
            if child.tag.split("}")[1] in ("msub", "msubsup", "munder", "munderover") and len(child):
                op = child[0]
                if op.tag == MO and op.text in LIMITS:
                    child.tag = child.tag.replace("msubsup", "munderover").replace("msub", "munder")
                    op.set("movablelimits", "true")
            if op.tag == MO and op.text and len(op.text) > 1 and op.text.isalpha() and "lspace" not in op.attrib:
                # An operator name (max, arg, clip): a thin space around it, none before its "(".
                after = children[k + 1] if k + 1 < len(children) else None
                paren = after is not None and after.tag == MO and after.text == "("
                op.set("lspace", "0.167em")
                op.set("rspace", "0em" if paren else "0.167em")


# --- finding formulas in markdown ----------------------------------------------------------------

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _code_ranges(text):
    """``(start, end)`` of fenced code blocks and inline code spans: no math inside them."""
    ranges, pos, fence, start = [], 0, None, 0
    for line in text.splitlines(keepends=True):
        m = FENCE.match(line)
        if fence is None and m:
            fence, start = m.group(1), pos
        elif fence is not None and m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                and not line.strip()[len(m.group(1)):]:
            ranges.append((start, pos + len(line)))
            fence = None
        pos += len(line)
    if fence is not None:
        ranges.append((start, len(text)))
    inside = lambda i: any(a <= i < b for a, b in ranges)  # noqa: E731
    i = 0
    while i < len(text):
        if text[i] == "`" and not inside(i) and (i == 0 or text[i - 1] != "\\"):
            run = re.match(r"`+", text[i:]).group()
            close = re.compile(rf"(?<!`){run}(?!`)").search(text, i + len(run))
            if close:
                ranges.append((i, close.end()))
                i = close.end()
                continue
            i += len(run)
            continue
        i += 1
    return sorted(ranges)


def find_math(text):
    """``[(start, end, tex, display)]`` for every formula of a markdown ``text``, in order."""
    code = _code_ranges(text)
    found, i, n = [], 0, len(text)

    def skip_code(i):
        for a, b in code:
            if a <= i < b:
                return b
        return None

    while i < n:
        jump = skip_code(i)
        if jump is not None:
            i = jump
            continue
        c = text[i]
        if c == "\\":
            i += 2  # an escaped character, \$ included, is never a delimiter
            continue
        if c != "$":
            i += 1
            continue
        if text.startswith("$$", i):
            end = _close(text, i + 2, "$$", code, display=True)
            if end is not None:
                found.append((i, end + 2, text[i + 2:end], True))
                i = end + 2
            else:
                i += 2
            continue
        end = _close(text, i + 1, "$", code, display=False)
        if end is not None:
            found.append((i, end + 1, text[i + 1:end], False))
            i = end + 1
        else:
            i += 1
    return found


def _close(text, j, delim, code, display):
    """Index of the delimiter closing a formula that starts at ``j``, or None."""
    if j >= len(text) or (not display and text[j].isspace()):
        return None
    k = j
    while k < len(text):
        if any(a <= k < b for a, b in code):
            return None
        c = text[k]
        if c == "\\":
            k += 2
            continue
        if not display and c == "\n" and text[k + 1:k + 2] == "\n":
            return None  # inline math never crosses a blank line (a new paragraph)
        if text.startswith(delim, k):
            if display:
                return k if text[j:k].strip() else None
            if text.startswith("$$", k):
                return None  # "$a$$b$" is ambiguous: leave it as text
            if k > j and not text[k - 1].isspace() and not text[k + 1:k + 2].isdigit():
                return k
        k += 1
    return None


def protect(text, formulas):
    """``text`` with every formula replaced by a placeholder; the formulas are appended to ``formulas``."""
    out, last = [], 0
    for start, end, tex, display in find_math(text):
        out.append(text[last:start])
        out.append(TOKEN.format(len(formulas)))
        formulas.append((tex, display, text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


TAG = re.compile(r"<(/?)(pre|code)\b[^>]*>|<[^>]*>", re.I)


def restore(body, formulas):
    """Put MathML where :func:`protect` left placeholders in the rendered HTML ``body``.

    Returns ``(html, converted, raw)``: the number of formulas now MathML and a
    list of ``(tex, reason)`` for those kept as LaTeX. A placeholder that markdown
    put inside ``<pre>``/``<code>`` (e.g. an indented code block) gets its
    original text back, dollars included; one inside a tag's attribute (a
    heading's ``id``) gets the formula's letters and digits.
    """
    converted, raw, out, last, depth = 0, [], [], 0, 0

    def text_part(chunk):
        if depth:
            return TOKEN_RE.sub(lambda m: html.escape(formulas[int(m.group(1))][2], quote=False), chunk)

        def one(m):
            nonlocal converted
            tex, display, _ = formulas[int(m.group(1))]
            try:
                math = to_mathml(tex, display)
            except MathError as e:
                raw.append((tex, str(e)))
                cls = "tex display" if display else "tex"
                return f'<code class="{cls}">{html.escape(tex.strip(), quote=False)}</code>'
            converted += 1
            return math
        return TOKEN_RE.sub(one, chunk)

    for m in TAG.finditer(body):
        out.append(text_part(body[last:m.start()]))
        tag = m.group(0)
        if "TIPSLIBMATH" in tag:  # an attribute: the formula's letters, nothing that could break the tag
            tag = TOKEN_RE.sub(lambda t: re.sub(r"[^\w.-]", "", formulas[int(t.group(1))][0]), tag)
        out.append(tag)
        if m.group(2):
            depth = max(0, depth + (-1 if m.group(1) else 1))
        last = m.end()
    out.append(text_part(body[last:]))
    return "".join(out), converted, raw
