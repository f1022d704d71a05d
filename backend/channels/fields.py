"""Channel settings declared once: a pydantic model per channel whose fields carry what a form and an error need.

A channel declares its settings as a `ChannelSettings` model. Each field's type and bounds are pydantic's; with
`setting(...)` it also gets its label, help text, placeholder, form widget, whether it is a secret, the sentence
shown when a value is refused (`reason`, or `missing` when none was given) and the fix to suggest. From that one
declaration come:
- the check: `check(Model, values, message)` returns the model or raises SettingsError whose `details` hold one
  {"field", "reason", "code", "fix"} per field (`code` is pydantic's error type, or the code a validator gave
  with `problem(code, reason)`);
- the form: `form_of(Model)` is the field list `GET /api/channels` serves (backend/channels/describe.py) and the
  front end draws, labels and explains (frontend/views/channels.js).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from backend.channels.base import SettingsError

UNKNOWN = "unknown setting"
#: what the widget of a field is in the form (`json` is a text area holding a JSON object).
WIDGETS = frozenset({"text", "number", "password", "url", "email", "select", "checkbox", "json"})


class ChannelSettings(BaseModel):
    """A channel's settings. Unknown keys are refused (`unknown`: the sentence saying so)."""

    model_config = ConfigDict(extra="forbid", validate_default=False)
    #: one sentence on what the channel is, shown above its form.
    intro: ClassVar[str] = ""
    unknown: ClassVar[str] = UNKNOWN


def setting(
    default: Any = ...,  # pydantic's "required"
    *,
    label: str,
    reason: str,
    missing: str | None = None,
    help: str | None = None,  # noqa: A002 - the word the form uses
    fix: str | None = None,
    widget: str = "text",
    secret: bool = False,
    placeholder: str | None = None,
    options: list[tuple[str, str]] | None = None,
    autocomplete: str | None = None,
    in_form: bool = True,
    required: bool = False,
    **constraints: Any,
) -> Any:
    """A field of a ChannelSettings model: pydantic's `Field` with the form's words (see the module). A field
    `in_form=False` is accepted by the API but drawn elsewhere (or nowhere) in the app."""
    if widget not in WIDGETS:
        raise ValueError(f"unknown widget {widget!r}")
    extra: dict[str, Any] = {"reason": reason, "widget": "password" if secret else widget, "secret": secret}
    if not in_form:
        extra["in_form"] = False
    if required:  # a field with a default the check still refuses empty (the form marks it required)
        extra["required"] = True
    optional = {"missing": missing, "fix": fix, "placeholder": placeholder, "autocomplete": autocomplete}
    extra.update({key: value for key, value in optional.items() if value is not None})
    if options is not None:
        extra["options"] = [list(option) for option in options]
    return Field(default, title=label, description=help, json_schema_extra=extra, **constraints)


def problem(code: str, reason: str) -> PydanticCustomError:
    """A refusal a validator raises: `code` names it for programs, `reason` says it to people."""
    return PydanticCustomError(code, "{reason}", {"reason": reason})


def check(model: type[ChannelSettings], values: dict[str, Any], message: str, context: Any = None) -> Any:
    """`values` as the model, or SettingsError(message) listing one problem per field, in the form's order."""
    try:
        return model.model_validate(values, context=context)
    except ValidationError as exc:
        raise SettingsError(message, problems(model, exc)) from None


def problems(model: type[ChannelSettings], exc: ValidationError) -> list[dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        if key in found:
            continue
        found[key] = field_problem(model, key, error["type"], (error.get("ctx") or {}).get("reason") or None)
    order = {key: index for index, key in enumerate(model.model_fields)}
    return sorted(found.values(), key=lambda p: order.get(p["field"], -1))


def field_problem(model: type[ChannelSettings], key: str, code: str, reason: str | None = None) -> dict[str, str]:
    """One problem of `key` as the API shows it: {"field", "reason", "code", "fix"?}."""
    info = model.model_fields.get(key)
    if info is None:
        return {"field": key, "reason": model.unknown, "code": "unknown_setting"}
    extra = _extra(info.json_schema_extra)
    if reason is None:
        reason = str(extra.get("missing") or extra["reason"]) if code == "missing" else str(extra["reason"])
    out = {"field": key, "reason": reason, "code": code}
    if extra.get("fix"):
        out["fix"] = str(extra["fix"])
    return out


def secret_keys(model: type[ChannelSettings]) -> frozenset[str]:
    return frozenset(key for key, info in model.model_fields.items() if _extra(info.json_schema_extra).get("secret"))


def form_of(model: type[ChannelSettings]) -> dict[str, Any]:
    """The form `GET /api/channels` serves: the intro and each field as the front end draws it."""
    fields = model.model_fields.items()
    shown = [_form_field(key, info) for key, info in fields if _extra(info.json_schema_extra).get("in_form", True)]
    return {"intro": model.intro, "fields": shown}


def _form_field(key: str, info: Any) -> dict[str, Any]:
    extra = _extra(info.json_schema_extra)
    out: dict[str, Any] = {"key": key, "label": info.title or key, "type": extra["widget"]}
    if info.description:
        out["hint"] = info.description
    for name in ("secret", "placeholder", "options", "autocomplete", "fix"):
        if extra.get(name):
            out[name] = extra[name]
    if info.is_required() or extra.get("required"):
        out["required"] = True
    elif info.default not in (None, ""):
        out["default"] = info.default
    for bound in info.metadata:  # annotated-types' Ge, Gt, Le, Lt, and pydantic's pattern
        for name, key in (("ge", "min"), ("gt", "min"), ("le", "max"), ("lt", "max"), ("pattern", "pattern")):
            value = getattr(bound, name, None)
            if value is not None:
                out[key] = value
    return out


def _extra(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
