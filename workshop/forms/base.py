"""The one base class of every form: text fields come in clean or not at all.

Browsers never send control characters from a text box, but pasted text, scripts and fuzzers do.
Every string field of a ``Form`` drops the invisible ones a paste carries (C0 and C1 controls
other than tab and line breaks), so a pasted title keeps its words; a NUL byte never gets this far
(``refuse_nul_bytes`` answers 400 for the whole request first). A field that must not be blank
says so as a form error, never as a server error.
"""

from __future__ import annotations

import re

from flask import abort, request
from flask_wtf import FlaskForm
from wtforms import Field, FieldList, FormField
from wtforms.fields.choices import SelectFieldBase

_INVISIBLE = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def drop_controls(value):
    """Text without control characters other than tab, line feed and carriage return."""
    return _INVISIBLE.sub("", value) if isinstance(value, str) else value


def strip_choice(value):
    """A choice without the spaces around it: no option has any, and a blank one is no choice at all
    (``Optional`` lets whitespace through untouched, which no view should take for an option)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [item.strip() if isinstance(item, str) else item for item in value]
    return value


class Form(FlaskForm):
    """A FlaskForm whose text fields drop control characters (see the module's docstring)."""

    class Meta(FlaskForm.Meta):
        def bind_field(self, form, unbound_field, options):
            field_class = unbound_field.field_class
            if not issubclass(field_class, (FieldList, FormField)) and issubclass(field_class, Field):
                filters = tuple(unbound_field.kwargs.get("filters", ()))
                first = (drop_controls, strip_choice) if issubclass(field_class, SelectFieldBase) else (drop_controls,)
                unbound_field.kwargs["filters"] = (*first, *(f for f in filters if f not in first))
            return super().bind_field(form, unbound_field, options)


def refuse_nul_bytes() -> None:
    """Answer 400 to a request whose query or form carries a NUL byte (a ``before_request`` hook).

    No text a person types holds one; PostgreSQL refuses to store one. Uploaded files are not
    inspected here: their bytes are checked by the service that reads them.
    """
    if any(isinstance(value, str) and "\x00" in value for value in (request.view_args or {}).values()):
        abort(404)
    for source in (request.args, request.form if request.mimetype in _FORM_TYPES else None):
        if source is None:
            continue
        for key, values in source.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                abort(400, description="Part of what was sent holds a NUL character, which no form accepts. "
                                       "Retype the text instead of pasting it, and send it again.")


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
