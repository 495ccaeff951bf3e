"""A pool worker ends with its driver, however the driver dies (gtnas.runtime.orphans)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

# A driver as gtnas's ProcessExecutor builds its pool: spawned workers, the executor's own
# initializer; the one task would run for a minute. It prints the worker's pid once it runs.
DRIVER = """
import concurrent.futures as futures, multiprocessing, os, time
from gtnas.search.executor import _worker_init
if __name__ == "__main__":
    pool = futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_worker_init, initargs=(1,))
    pool.submit(os.getpid).result()  # the worker is up and initialised
    pool.submit(time.sleep, 60)
    print(next(iter(pool._processes)), flush=True)
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by init) counts as gone
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1][0] != "Z"


def test_a_pool_worker_exits_when_its_driver_is_killed() -> None:
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        worker = int(driver.stdout.readline())
        assert _alive(worker)
        driver.send_signal(signal.SIGKILL)  # no handler, no clean-up: as `kill -9` or the OOM
        driver.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker trained on after its driver died"
    finally:
        driver.kill()
        driver.stdout.close()
