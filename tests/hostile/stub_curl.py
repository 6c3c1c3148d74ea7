"""A `curl` that runs nothing: it appends its arguments to $CURL_LOG as JSON, so a test
can run a reproducer with it alone on PATH and see exactly what curl was given. Given an
`x-api-key` header and $STUB_ISSUED set, it prints an authorize answer
({"data": $STUB_ISSUED})."""

from __future__ import annotations

import shutil
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
        "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "# authorize with the key answers a token, as a target would\n"
        "if 'STUB_ISSUED' in os.environ and any(a.startswith('x-api-key: ') for a in sys.argv):\n"
        "    print(json.dumps({'data': os.environ['STUB_ISSUED']}))\n",
        encoding="utf-8",
    )
    stub.chmod(0o755)
    # sed reads the token out of authorize's answer (checks/reproducers._token_from_key).
    sed = shutil.which("sed")
    if sed is not None and not (folder / "sed").exists():
        (folder / "sed").symlink_to(sed)
    return folder
