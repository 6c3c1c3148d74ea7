"""junit.xml written from the verdicts, one testcase per requirement, for the commands
that have no pytest session to write it test by test: `judge` (a recording) and `merge`
(the shards of a run). Redacted first, like every other report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from masivo_conformance.console import CONTROL
from masivo_conformance.reporting.report_templates import redacted
from masivo_conformance.reporting.results import RunResult
from masivo_conformance.scrub import redact_reproducer

__all__ = ["render_junit"]


def _xml_text(value: object) -> str:
    # XML 1.0 cannot carry control characters at all, escaped or not.
    return CONTROL.sub("?", str(value))


def render_junit(result: RunResult, name: str, system_out: str = "") -> str:
    """One testcase per requirement: a failure where a binding requirement failed (a
    failing SHOULD without --strict goes to the case's system-out), skipped with its
    reason where not checked, passed otherwise; `system_out`, redacted, is the suite's."""
    result = redacted(result)
    binding = [
        r for r in result.requirements if r.status == "fail" and (r.is_must or result.strict)
    ]
    skipped = sum(1 for r in result.requirements if r.status == "not checked")
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(result.requirements)),
        failures=str(len(binding)),
        errors="0",
        skipped=str(skipped),
        time=f"{result.duration_s:.2f}",
    )
    for row in result.requirements:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"masivo.{row.id.split('-', 1)[0]}",
            name=_xml_text(f"{row.id} ({row.level}) {row.title}"),
            time="0",
        )
        if row.status == "fail":
            kind = "failure" if row in binding else "system-out"
            text = "\n\n".join(
                f"{f.test}: {f.message}\n    reproduce: {redact_reproducer(f.reproducer)}"
                for f in row.findings
            )
            element = ET.SubElement(case, kind)
            if kind == "failure":
                element.set("message", _xml_text(f"{row.violated} violation(s)"))
            element.text = _xml_text(text)
        elif row.status == "not checked":
            ET.SubElement(case, "skipped", message=_xml_text(row.reason))
    if system_out:
        ET.SubElement(suite, "system-out").text = _xml_text(redacted(system_out))
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
