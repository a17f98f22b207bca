"""`python -m workers`: the case worker (RULES §9)."""

from workers.worker import build_worker, run_worker

__all__ = ["build_worker", "run_worker"]
