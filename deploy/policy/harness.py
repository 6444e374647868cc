"""The common ending of the policy checks in this folder: report, then prove each rule can fail.

A mutant is (rule id, description, edit); `check_edited(edit)` runs the whole check on a fresh
copy of the input with the edit applied. Each mutant must be rejected by its own rule, so a rule
that passes everything fails CI.
"""

from __future__ import annotations

import sys
from typing import Callable

Problem = tuple[str, str]
Mutant = tuple[str, str, Callable]


def verdict(
    problems: list[Problem],
    ok_line: str,
    mutants: list[Mutant] | None = None,
    check_edited: Callable[[Callable], list[Problem]] | None = None,
) -> int:
    """Prints the problems (exit status 1) or ok_line, then runs the mutants if given."""
    for rule, message in problems:
        print(f"FAIL {rule} {message}", file=sys.stderr)
    if problems:
        return 1
    print(ok_line)
    if mutants is None or check_edited is None:
        return 0
    escaped = []
    for rule, description, edit in mutants:
        found = [r for r, _ in check_edited(edit)]
        if rule not in found:
            escaped.append(f"{rule} did not reject: {description} (found {found})")
    for line in escaped:
        print(f"FAIL mutant {line}", file=sys.stderr)
    if escaped:
        return 1
    print(f"ok: {len(mutants)} known-bad variants rejected, each by its rule")
    return 0
