"""Reading the survey's HTML pages the way a browser's form filling would.

A small `html.parser` pass collects what a participant can act on: the form's action
and hidden fields, radio buttons with their labels, select boxes with their options
(and the image each ranking select belongs to), and the attention checks' questions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Radio:
    name: str
    value: str
    id: str
    disabled: bool


@dataclass
class Select:
    name: str
    options: list[str] = field(default_factory=list)
    image: str = ""  # data-src: the image this ranking select belongs to


@dataclass
class Fieldset:
    classes: str
    legend: str = ""
    radios: list[Radio] = field(default_factory=list)


@dataclass
class PageForm:
    """The first form of a page and everything a participant can fill in."""

    action: str = ""
    hidden: dict[str, str] = field(default_factory=dict)
    radios: list[Radio] = field(default_factory=list)
    selects: list[Select] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # input id -> label text
    fieldsets: list[Fieldset] = field(default_factory=list)
    description: str = ""  # the prompt the alignment question shows, if any

    def label_of(self, radio: Radio) -> str:
        return self.labels.get(radio.id, "").strip()


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form = PageForm()
        self.in_form = False
        self.forms_seen = 0
        self.select: Select | None = None
        self.option_value: str | None = None
        self.fieldset: Fieldset | None = None
        self.text_target: str | None = None  # "legend" or "label:<id>"
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms_seen += 1
            # The language switch is a form of its own at the top of every page; the
            # participant's form is the one that follows it (or the only one).
            if a.get("class", "") == "language":
                return
            if not self.form.action and not self.in_form and not self.form.hidden:
                self.in_form = True
                self.form.action = a.get("action", "")
            return
        if not self.in_form:
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind == "hidden":
                self.form.hidden[a.get("name", "")] = a.get("value", "")
            elif kind == "radio":
                radio = Radio(a.get("name", ""), a.get("value", ""), a.get("id", ""),
                              "disabled" in a)  # fmt: skip
                self.form.radios.append(radio)
                if self.fieldset is not None:
                    self.fieldset.radios.append(radio)
        elif tag == "select":
            self.select = Select(a.get("name", ""), image=a.get("data-src", ""))
        elif tag == "option" and self.select is not None:
            self.option_value = a.get("value", "")
        elif tag == "fieldset":
            self.fieldset = Fieldset(a.get("class", ""))
        elif tag == "legend" and self.fieldset is not None:
            self.text_target, self.text = "legend", []
        elif tag == "label" and a.get("for"):
            self.text_target, self.text = "label:" + a["for"], []

    def handle_endtag(self, tag):
        if tag == "form" and self.in_form:
            self.in_form = False
        elif tag == "select" and self.select is not None:
            self.form.selects.append(self.select)
            self.select = None
        elif tag == "option" and self.option_value is not None and self.select is not None:
            self.select.options.append(self.option_value)
            self.option_value = None
        elif tag == "fieldset" and self.fieldset is not None:
            self.form.fieldsets.append(self.fieldset)
            self.fieldset = None
        elif tag == "legend" and self.text_target == "legend":
            self.fieldset.legend = " ".join("".join(self.text).split())
            self.text_target = None
        elif tag == "label" and self.text_target and self.text_target.startswith("label:"):
            self.form.labels[self.text_target[6:]] = " ".join("".join(self.text).split())
            self.text_target = None

    def handle_data(self, data):
        if self.text_target:
            self.text.append(data)


def read_form(html: str) -> PageForm:
    """The participant's form on a survey page."""
    reader = _FormReader()
    reader.feed(html)
    reader.close()
    return reader.form
