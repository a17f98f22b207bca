"""Run the vangnet worker: `python -m workers`.

Configuration: Temporal's environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ...),
VANGNET_TASK_QUEUE (default vangnet-cases), DATABASE_URL (default: embedded SQLite).
SIGTERM or Ctrl-C lets running activities finish, then exits.
"""

import asyncio
import sys

from vangnet.logging import configure_logging
from vangnet.settings import get_settings


def main() -> int:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(__import__("workers").run_worker(settings))
    except KeyboardInterrupt:
        pass
    except Exception as err:  # a clear one-line reason, not a traceback, for operators
        print(f"vangnet worker: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
