"""MkDocs plugin `doctest-verified`: show on each page what the latest
doc-test run verified.

It reads the run's report (`report`, default build/doctest-report.json)
through doctester.core.report.read_report. A page with runnable blocks gets
one line under its title: how many blocks passed, in which environment
(Docker Engine 26.1.5), and when; or that some failed; or, without a report,
that it is not yet verified. Each block that passed gets a small tick (the
CSS class `doctest-passed`), each failed one a cross.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mkdocs.config import base, config_options
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from .core.profiles import installed_block_kinds
from .core.report import ReportError, environment_label, read_report

FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,}|~{3,})\s*(?P<info>.*)$")
MARKS = {"passed": "doctest-passed", "failed": "doctest-failed"}


def runnable_fence(languages: Iterable[str]) -> re.Pattern[str]:
    """The opening line of a fence of one of `languages`."""
    names = "|".join(re.escape(lang) for lang in sorted(languages, key=len, reverse=True))
    return re.compile(r"^\s*(`{3,}|~{3,})\s*\{?\.?(" + names + r")\b", re.M)


def front_matter_lines(source: str) -> int:
    if source.startswith("---\n"):
        end = source.find("\n---\n", 4)
        if end != -1:
            return source[:end + 5].count("\n")
    return 0


def merged_statuses(engines: dict[str, Any]) -> dict[int, str]:
    """{line: status} over every engine: failed if it failed on any, passed
    if it passed (or was cached) on the others, skipped otherwise."""
    seen: dict[int, set[str]] = {}
    for run in engines.values():
        for block in run.get("blocks", []):
            seen.setdefault(block["line"], set()).add("passed" if block["status"] == "cached" else block["status"])
    return {line: next((s for s in ("failed", "passed") if s in found), "skipped") for line, found in seen.items()}


def summary(statuses: dict[int, str], engines: dict[str, Any]) -> tuple[str, str]:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    run = counts.get("passed", 0) + counts.get("failed", 0)
    where = " and ".join(f"{environment_label(r.get('environment'))} on {str(r.get('date') or '')[:10]}"
                         for _, r in sorted(engines.items()))
    skipped = f", {counts['skipped']} skipped" if counts.get("skipped") else ""
    if counts.get("failed"):
        return ("doctest-summary-failed",
                f"{counts['failed']} of {run} command blocks on this page failed in the last test runs "
                f"({where}): some commands or outputs may be out of date.")
    return ("doctest-summary-passed",
            f"{counts.get('passed', 0)} of {run} command blocks verified against {where}{skipped}.")


def fence_openings(lines: list[str]) -> set[int]:
    """Indices of the lines that open a fenced block (not those that close one)."""
    openings: set[int] = set()
    open_ticks: str | None = None
    for index, line in enumerate(lines):
        match = FENCE.match(line)
        if not match:
            continue
        if open_ticks is None:
            openings.add(index)
            open_ticks = match["ticks"]
        elif match["ticks"].startswith(open_ticks) and not match["info"].strip():
            open_ticks = None
    return openings


def mark_fences(markdown: str, statuses: dict[int, str], offset: int) -> str:
    """Add the status class to each fence the report names. A line that does
    not open a fence (a report older than the page) is left as it is."""
    lines = markdown.split("\n")
    openings = fence_openings(lines)
    for number, status in statuses.items():
        if not isinstance(number, int):
            continue  # not a line number: nothing on the page to mark
        index = number - 1 - offset
        match = FENCE.match(lines[index]) if index in openings else None
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


def verified_markdown(markdown: str, source: str, label: str, report: dict[str, Any] | None) -> str:
    """The page's Markdown with its summary line and block marks."""
    # A fence of a language some block kind runs, as the test run reads pages.
    if not runnable_fence(installed_block_kinds().languages).search(source):
        return markdown  # nothing on this page to verify
    engines = ((report or {}).get("pages", {}).get(label) or {}).get("engines") or {}
    statuses = merged_statuses(engines)
    if not statuses:
        css, text = "doctest-summary-none", "Not yet verified: the commands on this page have not been run by the tests."
    else:
        css, text = summary(statuses, engines)
        markdown = mark_fences(markdown, statuses, front_matter_lines(source))
    # The text carries fields of the report (engine names, versions, dates),
    # which a run on another machine wrote: HTML-escape them, never trust them.
    banner = f'<p class="doctest-summary {css}">{html.escape(text)}</p>'
    title = re.search(r"^# .*$", markdown, re.M)
    if title:
        return markdown[:title.end()] + "\n\n" + banner + "\n" + markdown[title.end():]
    return banner + "\n\n" + markdown


class VerifiedConfig(base.Config):
    report = config_options.Type(str, default="build/doctest-report.json")


class VerifiedPlugin(BasePlugin[VerifiedConfig]):
    def on_pre_build(self, config: MkDocsConfig) -> None:
        report = Path(self.config.report)
        if not report.is_absolute():
            report = Path(config["config_file_path"]).parent / report
        try:
            self.report = read_report(report)
        except ReportError as error:
            raise PluginError(f"doctest-verified: {error}")
        self.docs_dir = Path(config["docs_dir"])
        self.prefix = self.docs_dir.relative_to(Path(config["config_file_path"]).parent)

    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        source = (self.docs_dir / page.file.src_uri).read_text(encoding="utf-8")
        return verified_markdown(markdown, source, f"{self.prefix}/{page.file.src_uri}", self.report)
