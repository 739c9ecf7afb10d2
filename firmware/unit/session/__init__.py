"""The 双录 session: script templates, the flow on the buttons, live analysis, quality checks."""
