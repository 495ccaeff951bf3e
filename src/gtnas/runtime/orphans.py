"""Worker processes that end with their parent.

A pool's spawned workers outlive a driver killed by a signal it does not handle (SIGTERM from
``kill``, SIGKILL, an out-of-memory kill): they finish the evaluation they hold, spending the
machine's cores on work nobody will record and writing into run folders that a restarted
driver is resuming from at the same time (seen with ``gtnas truth build``). Ctrl-C does not
show it (the terminal signals the whole process group). Each worker therefore watches its
parent, as PyTorch's DataLoader workers do, and exits when the parent is gone; what it was
training resumes from its last atomic checkpoint.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading

EXIT_CODE = 70  # os.EX_SOFTWARE: what a worker exits with when its driver is gone


def exit_with_parent() -> None:
    """In a process started by :mod:`multiprocessing`: end this process (``os._exit``, no
    clean-up, as a kill would) as soon as its parent process dies. A no-op elsewhere."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        # The sentinel becomes ready when the parent process ends, however it ends.
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(EXIT_CODE)

    threading.Thread(target=watch, name="gtnas-exit-with-parent", daemon=True).start()
