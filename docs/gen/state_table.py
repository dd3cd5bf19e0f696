"""Regenerate the generated part of docs/state-table.md from sansio_upscope._state.

    python docs/gen/state_table.py          # rewrite the block in place
    python docs/gen/state_table.py --check  # exit 1 if the page is out of date

The tables in ``_state.py`` are the single source; this only renders them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sansio_upscope._state import (
    CHALLENGES,
    NEXT_STATE,
    OUTCOMES,
    TRANSITIONS,
    Input,
)

PAGE = Path(__file__).resolve().parent.parent / "state-table.md"
BEGIN = "<!-- BEGIN GENERATED: docs/gen/state_table.py -->"
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


def main() -> int:
    text = PAGE.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    new = head + render() + tail
    if "--check" in sys.argv:
        if new != text:
            print(f"{PAGE} is out of date: run python docs/gen/state_table.py")
            return 1
        return 0
    PAGE.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
