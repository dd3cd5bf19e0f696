"""Speed of parse_www_authenticate against two baselines, and its linearity.

Baselines (measured in the same run, on the same headers):

* werkzeug: ``werkzeug.datastructures.WWWAuthenticate.from_header``, the common Python
  choice. It reads one challenge per value (a second challenge becomes a parameter named
  "Newauth realm"), so it does less work than we do on multi-challenge headers.
* mcp-regex: the MCP SDKs' extraction, re-implemented here: for each of
  resource_metadata, scope and error, ``re.search(name + '=(?:"([^"]+)"|([^\\s,]+))')``
  over the whole value (mcp-notes §1 rule 18 / 46). Wrong on the pitfalls, but the
  cheapest thing a client can do; it is the floor.

Ratios are ours / baseline time: below 1.0 means we are faster. The target: at most
1.0 against werkzeug on single-challenge Bearer headers.

Two costs of ours are reported: the parse alone (``parse_www_authenticate``), and the
parse plus the ``BearerChallenge`` view of each Bearer or DPoP challenge, which is what
the machine builds for every 401 and 403 it reads (werkzeug's result is a view already:
its parameters are a dict). Both are compared with werkzeug.

Then 1 kB vs 1 MB adversarial inputs, lenient and strict: a linear parser takes about
1000x longer on the 1 MB input, so the cost per character stays flat.

    python benchmarks/parse.py [--quick]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable

from werkzeug.datastructures import WWWAuthenticate

from sansio_upscope import BearerChallenge, parse_www_authenticate

SINGLE_BEARER = {
    "rfc6750-realm": 'Bearer realm="example"',
    "bare-bearer": "Bearer",
    "mcp-ts-403": (
        'Bearer error="insufficient_scope", error_description="Insufficient scope", '
        'scope="read write", '
        'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"'
    ),
    "mcp-python-401": (
        'Bearer error="invalid_token", error_description="Authentication required", '
        'resource_metadata="http://localhost:8000/.well-known/oauth-protected-resource/mcp"'
    ),
    "rfc9470-step-up": (
        'Bearer error="insufficient_user_authentication", '
        'error_description="A different authentication level is required", '
        'acr_values="myACR", max_age="5"'
    ),
    "escaped-quotes": r'Bearer error_description="say \"hi\"", scope="a b"',
}
MULTI = {
    "rfc9449-fig17": 'Bearer, DPoP algs="ES256 PS256"',
    "rfc9110-newauth": (
        'Basic realm="simple", Newauth realm="apps", type=1, title="Login to \\"apps\\""'
    ),
}

MCP_FIELDS = ("resource_metadata", "scope", "error")
MCP_PATTERNS = {name: re.compile(name + r'=(?:"([^"]+)"|([^\s,]+))') for name in MCP_FIELDS}


def mcp_regex(value: str) -> dict[str, str | None]:
    """The MCP SDKs' way: the first match of each name anywhere in the value."""
    if value.split(" ")[0].lower() != "bearer":
        return {}
    found: dict[str, str | None] = {}
    for name, pattern in MCP_PATTERNS.items():
        m = pattern.search(value)
        found[name] = (m[1] or m[2]) if m else None
    return found


def ours(value: str) -> object:
    return parse_www_authenticate(value)


def ours_bearer(value: str) -> object:
    """Parse and build the BearerChallenge view: what the machine does per 401/403."""
    return [
        BearerChallenge.from_challenge(c)
        for c in parse_www_authenticate(value)
        if c.scheme in ("bearer", "dpop")
    ]


def werkzeug(value: str) -> object:
    return WWWAuthenticate.from_header(value)


def per_call(func: Callable[[str], object], value: str, budget: float) -> float:
    """Best-of-5 seconds per call, each round sized to about budget/5 seconds."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            func(value)
        elapsed = time.perf_counter() - start
        if elapsed >= budget / 50:
            break
        number *= 4
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(number):
            func(value)
        rounds.append((time.perf_counter() - start) / number)
    return min(rounds)


def compare(budget: float) -> tuple[bool, list[float], list[float]]:
    """The table; whether every single-challenge Bearer parse is at most werkzeug's
    time, and the ours/werkzeug ratios on those headers without and with the view."""
    print(
        f"{'header':<18} {'ours µs':>8} {'+view µs':>9} {'werkzeug':>9} {'mcp-regex':>10}"
        f" {'ours/wz':>8} {'+view/wz':>9} {'ours/mcp':>9}"
    )
    ok = True
    parse_ratios: list[float] = []
    view_ratios: list[float] = []
    for group, headers in (("single Bearer", SINGLE_BEARER), ("multi-challenge", MULTI)):
        print(f"-- {group}")
        for name, value in headers.items():
            t_ours = per_call(ours, value, budget)
            t_view = per_call(ours_bearer, value, budget)
            t_wz = per_call(werkzeug, value, budget)
            t_mcp = per_call(mcp_regex, value, budget)
            ratio = t_ours / t_wz
            if headers is SINGLE_BEARER:
                ok = ok and ratio <= 1.0
                parse_ratios.append(ratio)
                view_ratios.append(t_view / t_wz)
            print(
                f"{name:<18} {t_ours * 1e6:8.2f} {t_view * 1e6:9.2f} {t_wz * 1e6:9.2f}"
                f" {t_mcp * 1e6:10.2f} {ratio:8.2f} {t_view / t_wz:9.2f} {t_ours / t_mcp:9.2f}"
            )
    return ok, parse_ratios, view_ratios


ADVERSARIAL: dict[str, Callable[[int], str]] = {
    # sizes in characters; each builder repeats its unit up to about n characters
    "a * n": lambda n: "a" * n,
    'x=" * n/3': lambda n: 'x="' * (n // 3),
    '", " * n/2': lambda n: ", " * (n // 2),
    "Bearer a=b, ...": lambda n: "Bearer " + "a=b, " * (n // 5),
    "many distinct params": lambda n: "Bearer " + ", ".join(f"p{i}=b" for i in range(n // 8)),
    "broken, ...": lambda n: "Bearer a b, " * (n // 12),
    'unclosed "\\"': lambda n: 'Bearer a="' + '\\"' * (n // 2),
    "spaces then =": lambda n: "Bearer a=b, c" + " " * n + "=",
    "recover in quotes": lambda n: 'Bearer a b "' + '\\",' * (n // 3) + "\x01",
}


def linearity(budget: float) -> bool:
    print()
    print(
        f"{'adversarial input':<28} {'1 kB ms':>8} {'1 MB ms':>8} {'MB/kB':>6}"
        f" {'ns/char 1 kB':>13} {'ns/char 1 MB':>13}"
    )
    ok = True
    for name, build in ADVERSARIAL.items():
        small, large = build(1_000), build(1_000_000)
        for strict in (False, True):
            parse = _strict if strict else _lenient
            t_small = per_call(parse, small, budget)
            t_large = per_call(parse, large, budget * 5)
            per_char_small, per_char_large = t_small / len(small), t_large / len(large)
            # Linear: 1000x the input, about 1000x the time, so the cost per character
            # stays flat (a quadratic parser's would grow 1000x). Allow 5x for caches,
            # memory growth and the fixed cost that dominates 1 kB.
            if per_char_large > 5 * per_char_small:
                ok = False
            label = name + (" (strict)" if strict else "")
            print(
                f"{label:<28} {t_small * 1e3:8.3f} {t_large * 1e3:8.1f} {t_large / t_small:6.0f}"
                f" {per_char_small * 1e9:13.1f} {per_char_large * 1e9:13.1f}"
            )
    return ok


def _lenient(value: str) -> object:
    return parse_www_authenticate(value)


def _strict(value: str) -> object:
    try:
        return parse_www_authenticate(value, strict=True)
    except ValueError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds, noisier numbers")
    args = parser.parse_args()
    budget = 0.1 if args.quick else 0.5
    print(f"Python {sys.version.split()[0]}; best of 5 rounds; ratio = ours / baseline")
    fast, parse_ratios, view_ratios = compare(budget)
    linear = linearity(budget)
    print()
    print(
        "single-challenge Bearer vs werkzeug: parse alone "
        f"x{min(parse_ratios):.2f}-x{max(parse_ratios):.2f}, with the BearerChallenge view "
        f"x{min(view_ratios):.2f}-x{max(view_ratios):.2f}"
    )
    print("single-challenge Bearer at least as fast as werkzeug:", "yes" if fast else "NO")
    print(
        "1 MB adversarial inputs linear (cost per character within 5x):", "yes" if linear else "NO"
    )
    return 0 if fast and linear else 1


if __name__ == "__main__":
    sys.exit(main())
