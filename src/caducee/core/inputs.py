"""What a user sends, checked once at the edge (issue 13 §4: bad input gets a clear error and loses nothing).

- Characters: `InputCleaningMiddleware` applies the one rule of `caducee.core.text.clean_text` to every query and
  form parameter before any view reads it: control characters (NUL included) never reach a service, a database or
  a document, whatever the screen. Tabs and line breaks stay (a textarea needs them); a one-line field that must not
  hold them says so itself (`clean_text(value)`).
- Lengths: the database's, read from the model (`model_max_length`), so the server check (`length_errors`,
  `limit_form_to_model` for Django forms) and the HTML `maxlength` (`{% maxlength %}`, caducee/core/templatetags)
  cannot drift. A text too long is refused with a French message and comes back as typed: never truncated.
- Redirects: a `next` target is a local path (`local_path`), never a URL name nor another site.
- Identifiers: `parse_id` reads ASCII digits only, within the database's integer range (`str.isdigit()` and `int()`
  accept "٣" and "²"; a 25-digit id overflows SQLite and PostgreSQL): anything else is None, a 404 for the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.apps import apps
from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist
from django.core.validators import MaxLengthValidator
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.utils.http import url_has_allowed_host_and_scheme

from caducee.core.text import clean_text

if TYPE_CHECKING:
    from django.http.request import _ImmutableQueryDict

# BIGINT: the primary keys (DEFAULT_AUTO_FIELD is BigAutoField), PostgreSQL's bigint and SQLite's INTEGER.
MAX_ID = 2**63 - 1
_ID_RE = re.compile(r"[0-9]{1,19}")


def parse_id(value: object) -> int | None:
    """An identifier typed in a URL or a form: ASCII digits within the database's range, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID_RE.fullmatch(value.strip()):
        return None
    number = int(value.strip())
    return number if number <= MAX_ID else None


def id_or_404(value: object, message: str = "Objet introuvable.") -> int:
    """`parse_id`, or a 404 with the French `message` (an odd id names nothing: not a server error)."""
    number = parse_id(value)
    if number is None:
        raise Http404(message)
    return number


def local_path(request: HttpRequest, target: str) -> str:
    """A `next` target to redirect to: a path of this site ("/…"), else "". Django's `redirect` reads anything else
    as a URL name to reverse ("٣٤", "-1" → NoReverseMatch, a 500), and another host is an open redirect."""
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return ""
    return target


def model_max_length(model: type[models.Model] | str, name: str) -> int | None:
    """The column length of `model.name` ("app.Model" accepted), None for a field without one or no such field."""
    if isinstance(model, str):
        model = apps.get_model(model)
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return getattr(field, "max_length", None)


def max_lengths(*models: type[models.Model]) -> dict[str, int]:
    """Every text column's length of these models, by field name (the first model naming a field wins): the
    `maxlengths` a view gives `{% maxlength name %}`."""
    lengths: dict[str, int] = {}
    for model in models:
        for field in model._meta.get_fields():
            length = getattr(field, "max_length", None)
            if length and not getattr(field, "choices", None):
                lengths.setdefault(field.name, length)
    return lengths


def too_long(value: str, max_length: int | None) -> str | None:
    """The French message for a text longer than its column, None when it fits."""
    if max_length is None or len(value) <= max_length:
        return None
    return f"{max_length} caractères au maximum (vous en avez saisi {len(value)}) : raccourcissez le texte."


def length_errors(
    values: Mapping[str, str], model: type[models.Model], names: Iterable[str] | None = None
) -> dict[str, str]:
    """The fields of `values` (or only `names`) longer than `model`'s column, with their French message."""
    errors = {}
    for name in values if names is None else names:
        message = too_long(values.get(name) or "", model_max_length(model, name))
        if message:
            errors[name] = message
    return errors


def limit_form_to_model(form: forms.BaseForm, model: type[models.Model]) -> None:
    """Each text field of `form` named like a column of `model` takes that column's length: the server check and
    the rendered `maxlength` (Django's CharField renders it). Fields without a column keep their own limit."""
    for name, field in form.fields.items():
        if not isinstance(field, forms.CharField):
            continue
        length = model_max_length(model, name)
        if not length or field.max_length == length:
            continue
        field.max_length = length
        field.validators = [v for v in field.validators if not isinstance(v, MaxLengthValidator)]
        field.validators.append(MaxLengthValidator(length))
        if not field.widget.is_hidden:
            field.widget.attrs["maxlength"] = str(length)


def _cleaned(query: QueryDict) -> _ImmutableQueryDict | None:
    """A copy of `query` with `clean_text` applied to every key and value; None when nothing changes."""
    lists = list(query.lists())
    cleaned = [(clean_text(k), [clean_text(v, multiline=True) for v in vs]) for k, vs in lists]
    if cleaned == lists:
        return None
    copy = QueryDict(mutable=True, encoding=query.encoding)
    for key, values in cleaned:
        copy.setlist(key, copy.getlist(key) + values)
    copy._mutable = False
    return cast("_ImmutableQueryDict", copy)


REMOVED_NOTICE = (
    "Des caractères invisibles (caractères de contrôle, souvent venus d'un copier-coller) ont été retirés de votre "
    "saisie ; le texte visible est conservé tel que tapé."
)


class InputCleaningMiddleware:
    """Issue 13 §4: the query string and the form fields reach the views without control characters.

    It comes after CsrfViewMiddleware, which parses every POST before the views anyway: reading the POST here
    changes nothing for a view (a view that sets its own upload handlers must be csrf_exempt, and none is).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        query = _cleaned(request.GET)
        if query is not None:
            request.GET = query
        if request.method == "POST":
            post = _cleaned(request.POST)
            if post is not None:
                request.POST = post
                # Removed, and said so in French (issue 13 §4): the user sees why the text differs from the paste.
                messages.warning(request, REMOVED_NOTICE, fail_silently=True)
        return None
