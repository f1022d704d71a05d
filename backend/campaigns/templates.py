"""Message templates: Jinja2 in a sandbox with strict undefined, over a contact's fields.

Context of one contact: `name`, `first_name`, `last_name`, `phone`, `email` and `fields` (the custom fields,
`{{ fields.city }}`). A value that is missing or empty is left out of the context, so using it is an error
(`{{ fields.city | default("your city") }}` and `{% if fields.city %}` are the ways to make one optional).
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.utils import missing

from backend.campaigns import variations
from backend.campaigns.sandbox import RENDER_TIME_LIMIT_S, BoundedEnvironment, TemplateLimit, bounded_render
from backend.campaigns.variations import VariationError
from backend.store.search_key import fold

#: Jinja's words for what was undefined: "'city' is undefined", "'dict object' has no attribute 'city'".
_UNDEFINED_NAME = re.compile(r"has no attribute '([^']+)'|^'([^']+)' is undefined")
#: `{{ first name }}` or `{{ fields.date de naissance }}`: words with spaces where a name was meant.
_SPACED_NAME = re.compile(r"\{\{(-?\s*)((?:fields\.)?[^\W\d]\w*(?:[ \t]+\w+)+)(\s*-?)\}\}")


#: words Jinja reads itself: `{{ a or b }}` and `{{ not done }}` are expressions, not names with spaces.
_JINJA_WORDS = frozenset({"and", "or", "not", "if", "else", "in", "is", "for", "true", "false", "none", "recursive"})


def _joined_name(match: re.Match[str]) -> str:
    """`{{ first name }}` -> `{{ first_name }}`; an expression made of Jinja's own words is left as written."""
    words = match[2].split()
    if any(word.lower() in _JINJA_WORDS for word in words):
        return match[0]
    return "{{" + match[1] + "_".join(words) + match[3] + "}}"


class ForgivingContext(Context):
    """A top-level name the contact does not have as written is looked up as GOV.UK Notify does: `{{ NAME }}` is
    `name`, `{{ Ville }}` the custom field imported from the column "Ville" (`fields.ville`)."""

    def resolve_or_missing(self, key: str) -> Any:
        value = super().resolve_or_missing(key)
        if value is not missing or not isinstance(key, str):
            return value
        folded = field_key(key)
        if folded != key and folded in self.parent:
            return self.parent[folded]
        fields = self.parent.get("fields")
        if isinstance(fields, Fields) and key in fields:
            return fields[key]
        return missing


_ENV = BoundedEnvironment()
_ENV.context_class = ForgivingContext
#: longest template source (characters).
MAX_TEMPLATE_CHARS = 100_000


class RenderBudget:
    """Time for all the renders of one request: `base_s` plus `per_render_s` for each render done so far.

    A template that is slow for every contact is refused after a couple of seconds, however many recipients
    there are, while a million fast renders never run out.
    """

    def __init__(self, base_s: float = 2.0, per_render_s: float = 0.005) -> None:
        self._start = time.monotonic()
        self._base_s = base_s
        self._per_render_s = per_render_s
        self._renders = 0

    def next_limit_s(self) -> float:
        """Seconds the next render may take (at most RENDER_TIME_LIMIT_S); 0 or less when the budget is spent."""
        self._renders += 1
        left = self._start + self._base_s + self._per_render_s * self._renders - time.monotonic()
        return min(RENDER_TIME_LIMIT_S, left)


class TemplateError(ValueError):
    """A template that cannot be compiled; `message` says where and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingPlaceholder(ValueError):
    """Rendering needed a value this contact does not have; `placeholders` names them (`fields.city`)."""

    def __init__(self, placeholders: list[str], detail: str) -> None:
        super().__init__(detail)
        self.placeholders = placeholders
        self.detail = detail


def contact_context(
    name: str | None, phone: str | None, email: str | None, fields: dict[str, Any] | None
) -> dict[str, Any]:
    custom = {k: v for k, v in (fields or {}).items() if v is not None and v != ""}
    by_key = {field_key(k): v for k, v in custom.items()}  # a "First name" column is `first_name`
    words = (name or "").split()
    context: dict[str, Any] = {
        "name": (name or "").strip() or None,
        "first_name": by_key.get("first_name") or (words[0] if words else None),
        "last_name": by_key.get("last_name") or (" ".join(words[1:]) or None),
        "phone": phone or None,
        "email": email or None,
    }
    out = {k: v for k, v in context.items() if v is not None}
    out["fields"] = Fields(custom)
    return out


def field_key(name: str) -> str:
    """A custom field's name as a placeholder finds it: "Ville", "ville" and "VILLE" alike, "Città" as "citta",
    "Date de naissance" as "date_de_naissance" (GOV.UK Notify matches placeholders regardless of case and spaces)."""
    return re.sub(r"[^0-9a-z]+", "_", fold(name)).strip("_")


class Fields(dict[str, Any]):
    """A contact's custom fields; a name that is not a key is looked up by its `field_key`."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self._by_key = {field_key(k): k for k in values}

    def __missing__(self, name: str) -> Any:
        real = self._by_key.get(field_key(name)) if isinstance(name, str) else None
        if real is None or real == name:
            raise KeyError(name)
        return dict.__getitem__(self, real)

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or (isinstance(name, str) and field_key(name) in self._by_key)


@dataclass
class CompiledTemplate:
    """A template ready to render; `source` is the Jinja source (variations already turned into `if`s)."""

    source: str
    what: str
    placeholders: tuple[str, ...]
    #: variation group number -> option count (empty: the template has no `{a|b}`), and the campaign's seed.
    variation_sizes: dict[int, int] = field(default_factory=dict)
    variation_seed: int = 0
    variants_total: int = 1
    #: `{name}`-like braces that are text (for the "did you mean {{ name }}?" hint).
    text_braces: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            self._template = _ENV.from_string(self.source)
        except RecursionError:
            raise TemplateError(f"The {self.what} template is nested too deeply.") from None

    def render(self, context: dict[str, Any], budget: RenderBudget | None = None, key: object = None) -> str:
        """The rendered text; `key` (the contact id) fixes which variation options this recipient gets. Raises
        MissingPlaceholder naming what this context lacks, TemplateError when the template breaks a bound (time,
        size) or fails."""
        seconds = budget.next_limit_s() if budget else RENDER_TIME_LIMIT_S
        if seconds <= 0:
            raise TemplateError(f"The {self.what} template takes too long to render for this many recipients.")
        if self.variation_sizes:
            context = {
                **context,
                variations.PICKS_NAME: variations.Picks(self.variation_sizes, self.variation_seed, key),
            }
        try:
            return bounded_render(lambda: self._template.generate(context), seconds)
        except UndefinedError as exc:
            missing = [p for p in self.placeholders if not _resolves(context, p)]
            named = _UNDEFINED_NAME.search(str(exc))
            if named:
                name = named.group(1) or named.group(2)
                narrowed = [p for p in missing if p.rsplit(".", 1)[-1] == name]
                missing = narrowed or missing
            raise MissingPlaceholder(missing or [str(exc)], str(exc)) from None
        except TemplateLimit as exc:
            raise TemplateError(f"The {self.what} template is refused: {exc}.") from None
        except SecurityError as exc:
            raise TemplateError(f"The {self.what} uses something templates may not use: {exc}") from None
        except RecursionError:
            raise TemplateError(f"The {self.what} template calls itself too deeply.") from None
        except Exception as exc:  # noqa: BLE001 - a template is user code: any failure of it is the user's 400
            reason = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
            raise TemplateError(f"The {self.what} template cannot be rendered: {reason}.") from None


def compile_template(source: str, what: str = "message", variation_seed: int = 0) -> CompiledTemplate:
    """Compile once; raises TemplateError with the line and the reason for a syntax error (a variation's brace
    that is off is named by its line and column)."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"The {what} template is longer than {MAX_TEMPLATE_CHARS:,} characters.")
    try:
        parsed = variations.parse(source)
    except VariationError as exc:
        raise TemplateError(
            f"The {what} has a variation error on line {exc.line}, column {exc.column}: {exc.reason}."
        ) from None
    # `{{ first name }}` is read as `{{ first_name }}`, which finds the column "First name" (ForgivingContext).
    jinja_source = _SPACED_NAME.sub(_joined_name, variations.to_jinja(parsed))
    try:
        ast = _ENV.parse(jinja_source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"The {what} template has an error on line {exc.lineno}: {exc.message}") from None
    except RecursionError:
        raise TemplateError(f"The {what} template is nested too deeply.") from None
    except (ValueError, OverflowError):  # a number literal Python will not read (more than 4,300 digits)
        raise TemplateError(f"The {what} template has a number too long to read.") from None
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(getattr(node, "arg", None), "value", None)
        if isinstance(name, str) and name.startswith("_"):
            # The sandbox would refuse it when rendering; saying so now names the culprit before anything is queued.
            raise TemplateError(f"The {what} uses something templates may not use: `{name}`")
    return CompiledTemplate(
        jinja_source,
        what,
        tuple(p for p in _placeholders(ast) if p.split(".", 1)[0] != variations.PICKS_NAME),
        variation_sizes=parsed.sizes,
        variation_seed=variation_seed,
        variants_total=variations.variants_total(parsed),
        text_braces=tuple(parsed.text_braces),
    )


def _placeholders(ast: nodes.Template) -> Iterable[str]:
    """Dotted names the template reads: `name`, `fields.city`, in order of first use."""
    seen: dict[str, None] = {}
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        path = _dotted(node)
        if path and not any(p.startswith(path + ".") for p in seen):
            seen.setdefault(path, None)
    # Keep the most specific path only (`fields.city`, not also `fields`).
    return [p for p in seen if not any(o.startswith(p + ".") for o in seen)]


def _dotted(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name):
        return node.name if node.ctx == "load" else None
    if isinstance(node, nodes.Getattr):
        base = _dotted(node.node)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = _dotted(node.node)
        return f"{base}.{node.arg.value}" if base else None
    return None


def _resolves(context: dict[str, Any], path: str) -> bool:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def placeholder_hints(body: CompiledTemplate, subject: CompiledTemplate | None, known: set[str]) -> list[str]:
    """Warnings for `{name}` written where `{{ name }}` was meant (a brace pair naming a placeholder we know)."""
    hints: list[str] = []
    for template in (body, subject):
        if template is None:
            continue
        for inner in template.text_braces:
            name = inner.strip()
            if name in known and name not in hints:
                hints.append(name)
    return [f"{{{name}}} is text: did you mean {{{{ {name} }}}}?" for name in hints]


def suggestion(placeholder: str, context: dict[str, Any]) -> str | None:
    """The placeholder this contact has that `placeholder` (one it lacks) most likely meant: `Vile` ->
    `fields.Ville`; None when nothing is close."""
    wanted = field_key(placeholder.removeprefix("fields."))
    fields = context.get("fields") or {}
    names: dict[str, str] = {
        field_key(n): n for n in ("name", "first_name", "last_name", "phone", "email") if n in context
    }
    names.update({field_key(k): f"fields.{k}" if k.isidentifier() else f"fields.{field_key(k)}" for k in fields})
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.75)
    return names[close[0]] if close and names[close[0]] != placeholder else None
