"""A sequence's definition, checked: its steps (1-20, each a body, a subject where the channel needs one, files
and a wait of 0 s to 365 days), its trigger, its exit rules and whether a contact may enter again.

`check_sequence(session, account_id, channel, payload, public_url)` returns the JSON kept in the campaign's
`sequence` column or raises a 400 whose `details` name each field at fault (`steps.20`, `steps.1.wait_s`,
`trigger.tag`...).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.campaigns.attachments import check_attachments
from backend.campaigns.templates import TemplateError, compile_template
from backend.channels.registry import CHANNELS, channel_class
from backend.contacts import tags
from backend.errors import ApiError, bad_request

MAX_STEPS = 20
MAX_WAIT_S = 365 * 24 * 3600
MAX_BODY = 65_536
TRIGGERS = ("tag_added", "contact_created", "inbound_message", "manual")
EXITS = ("reply", "opt_out")
DEFAULT_EXITS = list(EXITS)
INBOUND_CHANNELS = ("sms", "whatsapp", "email")


def check_sequence(
    session: Session, account_id: int, channel: Any, payload: dict[str, Any], public_url: str | None
) -> dict[str, Any]:
    problems: list[dict[str, Any]] = []
    steps = _steps(session, account_id, channel, payload.get("steps"), public_url, problems)
    trigger = _trigger(session, account_id, payload.get("trigger"), problems)
    exit_on = payload.get("exit_on", DEFAULT_EXITS)
    if not isinstance(exit_on, list) or not all(e in EXITS for e in exit_on):
        problems.append({"field": "exit_on", "reason": f"give a list of {', '.join(EXITS)}"})
    reenter = payload.get("reenter", False)
    if not isinstance(reenter, bool):
        problems.append({"field": "reenter", "reason": "must be true or false"})
    if problems:
        raise bad_request(_sentence(problems), problems)
    return {"steps": steps, "trigger": trigger, "exit_on": list(dict.fromkeys(exit_on)), "reenter": reenter}


def _sentence(problems: list[dict[str, Any]]) -> str:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"The sequence is not valid: {first['field']} {first['reason']}{more}."


def _steps(
    session: Session, account_id: int, channel: Any, raw: Any, public_url: str | None, problems: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        problems.append({"field": "steps", "reason": "give 1 to 20 steps, each with a body and a wait"})
        return []
    if len(raw) > MAX_STEPS:
        problems.append({"field": f"steps.{MAX_STEPS}", "reason": f"a sequence has at most {MAX_STEPS} steps"})
    needs_subject = channel in CHANNELS and channel_class(channel).needs_subject
    steps = []
    for i, step in enumerate(raw[:MAX_STEPS]):
        where = f"steps.{i}"
        if not isinstance(step, dict):
            problems.append({"field": where, "reason": 'give {"wait_s", "body", "subject"?, "attachments"?}'})
            continue
        unknown = sorted(set(step) - {"wait_s", "body", "subject", "attachments"})
        problems += [{"field": f"{where}.{k}", "reason": "unknown setting"} for k in unknown]
        wait = step.get("wait_s", 0)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= MAX_WAIT_S:
            problems.append({"field": f"{where}.wait_s", "reason": "wait 0 seconds to 365 days (31,536,000 s)"})
        body, subject = step.get("body"), step.get("subject")
        _text(body, f"{where}.body", "write the step's message", problems, required=True)
        _text(subject, f"{where}.subject", "an email step needs a subject", problems, required=needs_subject)
        files: list[dict[str, Any]] = []
        if step.get("attachments") and channel in CHANNELS:
            try:
                files = check_attachments(session, account_id, channel, step["attachments"], public_url).spec
            except ApiError as exc:
                problems.append({"field": f"{where}.attachments", "reason": exc.message})
        steps.append(
            {
                "wait_s": int(wait) if isinstance(wait, int | float) and not isinstance(wait, bool) else 0,
                "body": body,
                "subject": (subject or "").strip() or None,
                "attachments": files,
            }
        )
    return steps


def _text(value: Any, field: str, reason: str, problems: list[dict[str, Any]], required: bool) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append({"field": field, "reason": reason})
        return
    if not isinstance(value, str) or len(value) > MAX_BODY:
        problems.append({"field": field, "reason": f"must be text of at most {MAX_BODY:,} characters"})
        return
    try:
        compile_template(value, field.rsplit(".", 1)[-1])
    except TemplateError as exc:
        problems.append({"field": field, "reason": exc.message})


def _trigger(session: Session, account_id: int, raw: Any, problems: list[dict[str, Any]]) -> dict[str, Any]:
    if raw is None:
        return {"type": "manual"}
    if not isinstance(raw, dict) or raw.get("type") not in TRIGGERS:
        problems.append({"field": "trigger.type", "reason": f"must be one of {', '.join(TRIGGERS)}"})
        return {}
    kind = raw["type"]
    if kind == "tag_added":
        name = raw.get("tag")
        tag = tags.find(session, account_id, name) if isinstance(name, str) and name.strip() else None
        if tag is None:
            problems.append({"field": "trigger.tag", "reason": f"no tag named {name!r}: create it first"})
            return {}
        return {"type": kind, "tag": tag.name, "tag_id": tag.id}
    if kind == "inbound_message":
        source = raw.get("channel")
        if source is not None and source not in INBOUND_CHANNELS:
            problems.append({"field": "trigger.channel", "reason": f"must be one of {', '.join(INBOUND_CHANNELS)}"})
        return {"type": kind, **({"channel": source} if source else {})}
    return {"type": kind}
