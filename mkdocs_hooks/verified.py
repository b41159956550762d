"""MkDocs hook: show on each page what the latest doc-test run verified.

It reads build/doctest-report.json (written by `make doctest`). A page with
runnable blocks gets one line under its title: how many blocks passed,
against which Docker Engine, and when; or that some failed; or, without a
report, that it is not yet verified. Each block that passed gets a small tick
(the CSS class `doctest-passed`), each failed one a cross.
"""
import json
import re
from pathlib import Path

REPORT = Path("build") / "doctest-report.json"
FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,}|~{3,})\s*(?P<info>.*)$")
MARKS = {"passed": "doctest-passed", "failed": "doctest-failed"}


def load_report():
    try:
        return json.loads(REPORT.read_text())
    except (OSError, ValueError):
        return None


def front_matter_lines(source):
    if source.startswith("---\n"):
        end = source.find("\n---\n", 4)
        if end != -1:
            return source[:end + 5].count("\n")
    return 0


def summary(blocks, entry):
    counts = {}
    for block in blocks:
        counts[block["status"]] = counts.get(block["status"], 0) + 1
    run = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("cached", 0)
    engine = (entry.get("docker") or {}).get("engine") or "an unknown engine"
    date = entry.get("date", "")[:10]
    skipped = f", {counts['skipped']} skipped" if counts.get("skipped") else ""
    if counts.get("failed"):
        return ("doctest-summary-failed",
                f"{counts['failed']} of {run} command blocks on this page failed in the last test run "
                f"(Docker Engine {engine}, {date}): some commands or outputs may be out of date.")
    return ("doctest-summary-passed",
            f"{counts.get('passed', 0) + counts.get('cached', 0)} of {run} command blocks verified "
            f"against Docker Engine {engine} on {date}{skipped}.")


def mark_fences(markdown, statuses, offset):
    lines = markdown.split("\n")
    for number, status in statuses.items():
        index = number - 1 - offset
        match = FENCE.match(lines[index]) if 0 <= index < len(lines) else None
        if not match or status not in MARKS:
            continue
        info = match["info"].strip()
        if info.startswith("{"):
            info = info[:-1].rstrip() + f" .{MARKS[status]}}}"
        else:
            lang, _, rest = info.partition(" ")
            info = f"{{.{lang or 'text'} .{MARKS[status]} {rest}}}".replace(" }", "}")
        lines[index] = f"{match['indent']}{match['ticks']} {info}"
    return "\n".join(lines)


def on_page_markdown(markdown, page, config, files):
    source_path = Path(config["docs_dir"]) / page.file.src_uri
    source = source_path.read_text(encoding="utf-8")
    if not re.search(r"^\s*(`{3,}|~{3,})\s*\{?\.?(bash|sh|shell|console|pycon|dockerfile)\b", source, re.M):
        return markdown  # nothing on this page to verify
    report = load_report()
    label = f"docs/{page.file.src_uri}"
    entry = (report or {}).get("pages", {}).get(label) or {}
    blocks = entry.get("blocks")
    if not blocks:
        css, text = "doctest-summary-none", "Not yet verified: the commands on this page have not been run by the tests."
    else:
        css, text = summary(blocks, {"date": report.get("date", ""), "docker": report.get("docker"), **entry})
        offset = front_matter_lines(source)
        markdown = mark_fences(markdown, {b["line"]: b["status"] for b in blocks}, offset)
    banner = f'<p class="doctest-summary {css}">{text}</p>'
    title = re.search(r"^# .*$", markdown, re.M)
    if title:
        return markdown[:title.end()] + "\n\n" + banner + "\n" + markdown[title.end():]
    return banner + "\n\n" + markdown
