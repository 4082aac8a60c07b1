"""Worker processes that end with their parent, however the parent ends."""

from __future__ import annotations

import os
import signal
import threading
import time

POLL_S = 0.5


def exit_with_parent(parent: int) -> None:
    """Pool initializer. A spawned pool worker holds both ends of its task pipe, so when its parent is killed
    (SIGKILL, the OOM killer, a container stop) it never reads EOF and would wait forever, an orphan: watch
    the parent instead, and leave as soon as it is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="logosim-parent-watch", daemon=True).start()


def die_with_parent(parent: int) -> None:
    """For a child started by ``parent`` (a crawl process of crawler.processes): SIGKILL when the parent dies
    (Linux's PR_SET_PDEATHSIG), and, elsewhere and as a backstop, ``exit_with_parent``'s watch."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)
    exit_with_parent(parent)
