"""The OpenAPI schema: valid, and every path of it documented in docs/api.md."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

from django.core.management import call_command

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _schema() -> dict:
    out = StringIO()
    # --validate checks the schema against the OpenAPI 3 specification; --fail-on-warn fails on anything
    # drf-spectacular had to guess (an untyped field, an unnamed enum, an authenticator it cannot describe).
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    return json.loads(out.getvalue())


def test_the_schema_is_valid_and_every_path_is_documented() -> None:
    schema = _schema()
    documented = DOCS.read_text()
    for path, operations in schema["paths"].items():
        methods = " ".join(m.upper() for m in operations)
        assert f"| `{path}` | {methods} |" in documented, f"{path} ({methods}) is missing from docs/api.md"
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}
