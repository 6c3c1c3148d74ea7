"""A `curl` that runs nothing: it appends its arguments to $CURL_LOG as JSON, so a test
can run a reproducer with it alone on PATH and see exactly what curl was given."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["stub_curl"]


def stub_curl(folder: Path) -> Path:
    """`folder` (created if missing) holding only the stub `curl`."""
    folder.mkdir(parents=True, exist_ok=True)
    stub = folder / "curl"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "with open(os.environ['CURL_LOG'], 'a', encoding='utf-8') as log:\n"
        "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n",
        encoding="utf-8",
    )
    stub.chmod(0o755)
    return folder
