"""The fleet calendar report: one self-contained HTML file.

:mod:`patchpilot.report.model` holds the calendar as plain values (rows of
allowed windows and upgrade bars, freezes, markers, figures, a table);
:mod:`patchpilot.report.html` renders it with inline CSS and inline SVG, no
scripts and no network fetches, so the file opens anywhere, offline. The
demo builds the values from a run; anything else can build them too.
"""

from patchpilot.report.html import render_html
from patchpilot.report.model import Bar, Calendar, Fact, Marker, Row, Span, Table

__all__ = ["Bar", "Calendar", "Fact", "Marker", "Row", "Span", "Table", "render_html"]
