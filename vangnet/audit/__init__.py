"""Auditing cases: replay their histories with the current workflow code, render the timeline
with the rules it follows, and check it against the agreement (RULES.md).

    runs = await fetch_episode(client, case_id)          # or read_history_files([...])
    episode = await CaseReplayer().replay(runs)           # deterministic? and the case state
    report = audit_episode(episode)
    print(render_case(report, "text"))                    # or "markdown", "json"

Many episodes: `CaseReplayer().replay_many(episodes)` in this process, or
`ParallelReplayer(jobs).replay_many(episodes)` in worker processes.
`python -m starter audit` and `python -m starter export` are the command-line front ends.
"""

from vangnet.audit.compliance import VERDICTS, Finding, check
from vangnet.audit.history import (
    HistoryError,
    Run,
    fetch_episode,
    history_json,
    list_episodes,
    parse_history,
    read_history_file,
    read_history_files,
)
from vangnet.audit.parallel import ParallelReplayer, default_jobs
from vangnet.audit.replay import CaseReplayer, ReplayedEpisode
from vangnet.audit.report import (
    FORMATS,
    CaseAudit,
    RegionSummary,
    audit_episode,
    render_case,
    render_region,
)

__all__ = [
    "FORMATS",
    "VERDICTS",
    "CaseAudit",
    "CaseReplayer",
    "Finding",
    "HistoryError",
    "ParallelReplayer",
    "RegionSummary",
    "ReplayedEpisode",
    "Run",
    "audit_episode",
    "check",
    "default_jobs",
    "fetch_episode",
    "history_json",
    "list_episodes",
    "parse_history",
    "read_history_file",
    "read_history_files",
    "render_case",
    "render_region",
]
