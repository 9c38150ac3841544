"""The report as a list of blocks, rendered twice: to markdown (the phase log, and the Prefect artifact) and to one
self-contained HTML page. Text from the store (reflections, journal, notes) is never trusted as markup: it is
escaped for markdown, and for HTML every piece of text is escaped."""
import base64
import html
import re
from dataclasses import dataclass


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Note:
    """Why a section is left out, or a caveat: one line, shown in italics."""
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Excerpt:
    badges: list[str]
    text: str


@dataclass
class Figure:
    name: str      # file name under charts/
    alt: str


# a sentence ends at . ! or ? before a space and a capital letter (not at the full stop of 3.5 or e.g.)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def sentences(text: str) -> list[str]:
    return [part for part in SENTENCE_END.split(" ".join(str(text).split())) if part]


def without_repeats(blocks: list) -> list:
    """The blocks with every sentence said before (in a paragraph, a note or a bullet) left out: a log that says a
    thing once. Headings, tables, quoted excerpts and charts stay as they are; a bullet or paragraph left with no
    sentence goes."""
    seen: set[str] = set()

    def fresh(text: str) -> str:
        kept = []
        for sentence in sentences(text):
            key = sentence.rstrip(".").casefold()
            if key not in seen:
                seen.add(key)
                kept.append(sentence)
        return " ".join(kept)

    out = []
    for block in blocks:
        match block:
            case Paragraph(text) | Note(text):
                if (text := fresh(text)):
                    out.append(type(block)(text))
            case Bullets(items):
                if (items := [t for t in map(fresh, items) if t]):
                    out.append(Bullets(items))
            case _:
                out.append(block)
    return out


MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


def md(text: str) -> str:
    """Text safe to put in a markdown line: one line, markdown characters escaped."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def to_markdown(blocks: list, footer: str) -> str:
    out = []
    for block in blocks:
        match block:
            case Heading(level, text):
                out.append(f"{'#' * level} {md(text)}")
            case Paragraph(text):
                out.append(md(text))
            case Note(text):
                out.append(f"_{md(text)}_")
            case Bullets(items):
                out.append("\n".join(f"- {md(item)}" for item in items))
            case Table(header, rows):
                lines = ["| " + " | ".join(md(h) for h in header) + " |", "|" + " --- |" * len(header)]
                lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
                out.append("\n".join(lines))
            case Excerpt(badges, text):
                out.append(f"> {' '.join(f'`{md(b)}`' for b in badges)}\n>\n> {md(text)}")
            case Figure(name, alt):
                out.append(f"![{md(alt)}](charts/{name})")
    out.append(f"---\n{footer}")
    return "\n\n".join(out) + "\n"


STYLE = """body{font-family:Georgia,serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;background:#fff}
h1,h2,h3{font-family:Helvetica,Arial,sans-serif}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}.note{color:#777;font-style:italic}
blockquote{border-left:4px solid #8ab;margin:1rem 0;padding:.25rem 1rem;background:#f6f8fa}
.badge{display:inline-block;background:#dde6ee;border-radius:.6rem;padding:0 .5rem;margin-right:.3rem;
font:0.8rem Helvetica,Arial,sans-serif}img{max-width:100%}footer{color:#777;font-size:.8rem;margin-top:2rem}"""


def to_html(blocks: list, title: str, images: dict[str, bytes], footer: str) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(title)}</title>",
           f"<style>{STYLE}</style></head><body>"]
    for block in blocks:
        match block:
            case Heading(level, text):
                out.append(f"<h{level}>{e(text)}</h{level}>")
            case Paragraph(text):
                out.append(f"<p>{e(text)}</p>")
            case Note(text):
                out.append(f'<p class="note">{e(text)}</p>')
            case Bullets(items):
                out.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in items) + "</ul>")
            case Table(header, rows):
                head = "".join(f"<th>{e(h)}</th>" for h in header)
                body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            case Excerpt(badges, text):
                spans = "".join(f'<span class="badge">{e(b)}</span>' for b in badges)
                out.append(f"<blockquote><p>{spans}</p><p>{e(text)}</p></blockquote>")
            case Figure(name, alt):
                data = base64.b64encode(images[name]).decode()
                out.append(f'<figure><img alt="{e(alt)}" src="data:image/png;base64,{data}"></figure>')
    out.append(f"<footer>{e(footer)}</footer>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
