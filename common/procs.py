"""Worker processes that end with their parent, however the parent ends."""

from __future__ import annotations

import os
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
