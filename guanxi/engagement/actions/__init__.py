"""Engagement actions: the only code that writes follow-ups, tasks, cadences, pools, assignment
rules and handovers (one module per subject, as Zulip's `zerver/actions/`).
"""
