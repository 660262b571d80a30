"""Marking a report made from simulated participants as such, where a reader looks first."""

from __future__ import annotations

import html
import re
from pathlib import Path

NOTE_FILE = "SIMULATED.txt"


def simulated_note(bots: int, total: int) -> str:
    """The warning sentence shown at the top of the report."""
    return (
        f"Simulated data: {bots} of the {total} participants who answered this study are bots "
        "of the demo (recruitment ids SIMULATED-...), ranking with a noisy preference derived "
        "from the toy world's detectors. Nothing here is evidence about people."
    )


def mark_report_simulated(report: Path, bots: int, total: int) -> None:
    """Put the note at the top of report.md and report.html and in SIMULATED.txt."""
    note = simulated_note(bots, total)
    (report / NOTE_FILE).write_text(note + "\n", encoding="utf-8")
    markdown = report / "report.md"
    if markdown.is_file():
        text = markdown.read_text(encoding="utf-8")
        if note not in text:
            lines = text.splitlines(keepends=True)
            at = 1 if lines and lines[0].startswith("# ") else 0
            lines.insert(at, f"\n> **{note}**\n\n")
            markdown.write_text("".join(lines), encoding="utf-8")
    page = report / "report.html"
    if page.is_file():
        text = page.read_text(encoding="utf-8")
        banner = (
            '<p role="note" style="border:2px solid #b00;padding:.6em;background:#fee">'
            f"<strong>{html.escape(note)}</strong></p>"
        )
        if banner not in text:
            body = re.search(r"<body[^>]*>", text)
            at = body.end() if body else 0
            page.write_text(text[:at] + banner + text[at:], encoding="utf-8")
