"""Regenerate the generated parts of docs/state-table.md from sansio_upscope._state.

    python docs/gen/state_table.py          # rewrite the blocks in place
    python docs/gen/state_table.py --check  # exit 1 if the page is out of date

The tables in ``_state.py`` are the single source; this only renders them. Two blocks:
the state diagram and tables (TRANSITIONS, OUTCOMES, NEXT_STATE, CHALLENGES), and the
need pipeline (NEED_CHECKS).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sansio_upscope._state import (
    CHALLENGES,
    NEED_CHECKS,
    NEXT_STATE,
    OUTCOMES,
    TRANSITIONS,
    Input,
)

PAGE = Path(__file__).resolve().parent.parent / "state-table.md"
BEGIN = "<!-- BEGIN GENERATED: docs/gen/state_table.py -->"
NEEDS_BEGIN = "<!-- BEGIN GENERATED: docs/gen/state_table.py, NEED_CHECKS -->"
END = "<!-- END GENERATED -->"


def _input_name(kind: object) -> str:
    return kind.value if isinstance(kind, Input) else getattr(kind, "__name__", str(kind))


def render() -> str:
    lines = [BEGIN, "", "```mermaid", "stateDiagram-v2", "    [*] --> NEW"]
    for state, inputs in TRANSITIONS.items():
        for kind, handler in inputs.items():
            for action in OUTCOMES[handler]:
                target = NEXT_STATE[action].name
                lines.append(
                    f"    {state.name} --> {target}: {_input_name(kind)} / {action.__name__}"
                )
        if not inputs and state.name != "ERROR":
            lines.append(f"    {state.name} --> [*]")
    lines += ["```", "", "| state | input | handler | actions it may return |", "|---|---|---|---|"]
    for state, inputs in TRANSITIONS.items():
        for kind, handler in inputs.items():
            actions = ", ".join(f"`{a.__name__}`" for a in OUTCOMES[handler])
            lines.append(f"| `{state.name}` | `{_input_name(kind)}` | `{handler}` | {actions} |")
    terminal = [f"`{s.name}`" for s, inputs in TRANSITIONS.items() if not inputs]
    lines += [
        "",
        "Terminal states (every input raises `LocalProtocolError`): " + ", ".join(terminal) + ".",
        "",
        "| action | state after it |",
        "|---|---|",
    ]
    lines += [f"| `{action.__name__}` | `{state.name}` |" for action, state in NEXT_STATE.items()]
    lines += ["", "| status | `error` parameter | meaning |", "|---|---|---|"]
    for (status, error), meaning in CHALLENGES.items():
        name = meaning.name if hasattr(meaning, "name") else meaning
        lines.append(
            f"| {status} | `{error}` | `{name}` |" if error else f"| {status} | (none) | `{name}` |"
        )
    lines += ["", END]
    return "\n".join(lines)


def render_needs() -> str:
    """The need pipeline, one row per check of ``NEED_CHECKS``, in order."""
    lines = [
        NEEDS_BEGIN,
        "",
        "| # | check | applies when | action | rules |",
        "|---|---|---|---|---|",
    ]
    for number, step in enumerate(NEED_CHECKS, 1):
        action = step.answers.__name__
        if step.error is not None:
            action += f"({step.error.__name__})"
        when = step.when.rstrip(".")
        lines.append(f"| {number} | `{step.name}` | {when} | `{action}` | {step.rules} |")
    lines += ["", END]
    return "\n".join(lines)


def replace_block(text: str, begin: str, block: str) -> str:
    head, found, rest = text.partition(begin)
    if not found:
        raise SystemExit(f"{PAGE} has no {begin!r} marker")
    _, _, tail = rest.partition(END)
    return head + block + tail


def main() -> int:
    text = PAGE.read_text()
    new = replace_block(text, BEGIN, render())
    new = replace_block(new, NEEDS_BEGIN, render_needs())
    if "--check" in sys.argv:
        if new != text:
            print(f"{PAGE} is out of date: run python docs/gen/state_table.py")
            return 1
        return 0
    PAGE.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
