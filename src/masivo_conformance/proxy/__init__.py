"""A reverse proxy that judges a team's live traffic with `judge`'s own code
(`masivo-conformance proxy`, the pytest plugin's `--masivo-judge-proxy`).

app.py forwards, live.py judges (windows.py: the history the multi-call rules read),
recorder.py writes the redacted cassettes, running.py serves it on a thread, upstream.py
checks `--upstream`. It never imports the reference server.
"""
