"""Every access rule lives in workshop/policy.py: templates and views ask it, never decide themselves.

A template or a view that compares a role, a tier or a state (``p.status == "accepted"``,
``event.organizers | length > 1``, ``user.id != current_user.id``, ``event.status in (...)``) holds a
copy of a rule that can drift from the policy's. This test reads every template with Jinja's own
parser and every view with Python's, and names each such comparison it finds.
"""

from __future__ import annotations

import ast
import enum
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

from workshop import models, policy

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted(p for p in (ROOT / "templates").rglob("*") if p.suffix in (".html", ".txt"))
VIEWS = sorted((ROOT / "workshop" / "views").glob("*.py"))

# Attributes that hold a role, a tier or a state.
STATE_ATTRIBUTES = {"status", "tier", "release_tier", "effective_tier", "kind", "source", "signed_up", "signup",
                    "role", "is_admin", "organizers"}
# The enums whose members are states, and every value they have.
STATE_ENUMS = {name: cls for name, cls in vars(models).items()
               if isinstance(cls, type) and issubclass(cls, enum.Enum)} | {"Reason": policy.Reason}
STATE_VALUES = {member.value for cls in STATE_ENUMS.values() for member in cls}
# The policy's own tables of states.
POLICY_TABLES = {name for name in vars(policy) if name.isupper()}


# --- templates --------------------------------------------------------------------------------


def _template_names(node: nodes.Node) -> set[str]:
    """What a Jinja expression reads that could be a role, tier or state."""
    found = set()
    for child in [node, *node.find_all((nodes.Getattr, nodes.Getitem, nodes.Const, nodes.Name))]:
        if isinstance(child, nodes.Getattr):
            if child.attr in STATE_ATTRIBUTES:
                found.add(f".{child.attr}")
            if child.attr == "id" and isinstance(child.node, nodes.Name) and child.node.name == "current_user":
                found.add("current_user.id")
        elif isinstance(child, nodes.Getitem) and isinstance(child.arg, nodes.Const) and (
                child.arg.value in STATE_ATTRIBUTES):
            found.add(f"[{child.arg.value!r}]")
        elif isinstance(child, nodes.Const) and isinstance(child.value, str) and child.value in STATE_VALUES:
            found.add(repr(child.value))
    return found


def template_comparisons(source: str) -> list[str]:
    tree = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.do"]).parse(source)
    problems = []
    for compare in tree.find_all(nodes.Compare):
        names = _template_names(compare)
        if names:
            problems.append(f"line {compare.lineno}: compares {', '.join(sorted(names))}")
    for test in tree.find_all(nodes.Test):
        if test.name in ("equalto", "eq", "==", "ne", "!=", "sameas", "in"):
            names = set().union(*(_template_names(arg) for arg in [test.node, *test.args]))
            if names:
                problems.append(f"line {test.lineno}: tests {', '.join(sorted(names))}")
    for call in tree.find_all(nodes.Filter):
        if call.name in ("selectattr", "rejectattr") and len(call.args) > 1:
            names = set().union(*(_template_names(arg) for arg in call.args))
            if names:
                problems.append(f"line {call.lineno}: selects by {', '.join(sorted(names))}")
    return problems


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_templates_ask_the_policy(path):
    assert template_comparisons(path.read_text(encoding="utf-8")) == []


# --- views ------------------------------------------------------------------------------------


def _python_names(node: ast.AST) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute):
            if child.attr in STATE_ATTRIBUTES:
                found.add(f".{child.attr}")
            if isinstance(child.value, ast.Name) and child.value.id in STATE_ENUMS:
                found.add(f"{child.value.id}.{child.attr}")
            if child.attr in POLICY_TABLES:
                found.add(f"policy.{child.attr}")
            if child.attr == "id" and isinstance(child.value, ast.Name) and child.value.id == "current_user":
                found.add("current_user.id")
        elif isinstance(child, ast.Constant) and isinstance(child.value, str) and child.value in STATE_VALUES:
            found.add(repr(child.value))
    return found


def view_comparisons(source: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            names = _python_names(node)
            if names:
                problems.append(f"line {node.lineno}: compares {', '.join(sorted(names))}")
        elif isinstance(node, ast.Attribute) and node.attr == "is_admin":
            problems.append(f"line {node.lineno}: reads .is_admin")
    return problems


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_views_ask_the_policy(path):
    assert view_comparisons(path.read_text(encoding="utf-8")) == []


# --- the checks themselves catch what they are for -------------------------------------------


@pytest.mark.parametrize("source", [
    '{% if p.status.value == "accepted" %}x{% endif %}',
    "{% if event.organizers | length > 1 %}x{% endif %}",
    "{% if user.id != current_user.id %}x{% endif %}",
    '{% if s.signed_up == "confirmed" %}x{% endif %}',
    "{% if p.effective_tier(now).value in ('public', 'attendees') %}x{% endif %}",
    '{% if s.speakers | selectattr("id", "equalto", current_user.id) | list %}x{% endif %}',
    "{% if manager or p.status is equalto(other.status) %}x{% endif %}",
])
def test_the_template_check_finds_a_rule(source):
    assert template_comparisons(source)


@pytest.mark.parametrize("source", [
    "voter = policy.is_attendee(u, e) and event.status in policy.INVITING_STATUSES",
    "if candidate.status == CandidateStatus.ACCEPTED: pass",
    "ok = proposal.tier >= Tier.SESSION",
    "flag = user.is_admin or organizer",
    "q = sa.select(Proposal).where(Proposal.status == ProposalStatus.ACCEPTED)",
    "mine = sa.select(Vote).where(Vote.user_id == current_user.id)",
])
def test_the_view_check_finds_a_rule(source):
    assert view_comparisons(source)


@pytest.mark.parametrize("source", [
    "{% if policy.can_vote(current_user, p) %}x{% endif %}",
    "{% if here == 'manage.dashboard' %}x{% endif %}",
    "{% if votes == 1 %}x{% endif %}{{ p.status.value }}",
])
def test_the_template_check_lets_policy_questions_through(source):
    assert template_comparisons(source) == []
