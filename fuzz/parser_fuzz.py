"""atheris (libFuzzer) target for the WWW-Authenticate parser and the machine's use of it.

Run on demand, bounded: ``make fuzz`` (``FUZZ_SECONDS=60`` by default). It installs
atheris into the venv when missing and keeps its working corpus in ``.fuzz/corpus``
(seeded from ``fuzz/seeds``); a crash is written to ``.fuzz/crash-*``. Turn every crash
into a regular test: add the input to ``CRASHES`` in ``tests/test_fuzz_properties.py``
(the suite runs ``check`` over it and over the seeds), then fix the code.

``check(data)`` is the property, also run by the test suite over the seeds:

* lenient parsing of the bytes (one field value, and the same bytes split into field
  lines at LF) never raises;
* strict parsing raises nothing but ``HeaderParseError``, and when it succeeds it agrees
  with lenient parsing;
* the Bearer view of every challenge is built without raising;
* the machine takes the field as a 401 and as a 403 without raising.
"""

from __future__ import annotations

import sys

from sansio_upscope import (
    BearerChallenge,
    HeaderParseError,
    ResponseReceived,
    Upscope,
    parse_www_authenticate,
)

URL = "https://rs.example/api"


def check(data: bytes) -> None:
    lines = data.split(b"\n")
    for value in (data, lines):
        lenient = parse_www_authenticate(value)
        for challenge in lenient:
            BearerChallenge.from_challenge(challenge)
        try:
            strict = parse_www_authenticate(value, strict=True)
        except HeaderParseError:
            continue
        assert strict == lenient, (strict, lenient)
    for status in (401, 403):
        exchange = Upscope(URL).exchange("GET", URL)
        exchange.start()
        headers = [(b"WWW-Authenticate", line) for line in lines]
        exchange.receive(ResponseReceived(status_code=status, headers=headers))


def main() -> None:  # pragma: no cover - run by `make fuzz`, not by the tests
    import atheris

    # The library is imported above (for check); instrument the loaded bytecode so
    # libFuzzer sees coverage of the parser and the machine.
    atheris.instrument_all()
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":  # pragma: no cover
    main()
