"""Verdicts and what people read: results folded per requirement, baselines, and the
HTML, Markdown, JSON and JUnit reports. Depends on `checks`, `recording` and `contract`."""
