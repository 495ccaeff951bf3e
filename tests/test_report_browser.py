"""The search report in a real browser: headless Chromium (Debian's ``chromium``) renders the
page and the screenshot is not blank. Skipped where Chromium is not installed; the README's
command installs it (``apt-get install chromium``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gtnas.reports.search_report import SECTIONS, write_report
from gtnas.search.study import Study, default_storage
from gtnas.spaces import create_space

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _study(tmp_path: Path) -> Study:
    """A two-rung ladder study written through the study API, with two final trainings."""
    space = create_space("nb201")
    keys = [d.name for d in space.decisions()]
    config = {"kind": "search", "dataset": "mnist", "space": "nb201", "strategy": "random",
              "proxy": "synflow", "ladder": ["real:4"], "scheduler": "sh", "eta": 2,
              "seed": 0}  # fmt: skip
    study = Study.open("page", default_storage(tmp_path), config=config,
                       decision_sizes={k: 5 for k in keys})  # fmt: skip
    for index in range(4):
        rung = 0 if index < 3 else 1
        text = space.format(space.from_decisions([index % 5, 1, 2, 3, 1, 0]))
        number = study.start_trial(text, [index % 5, 1, 2, 3, 1, 0], keys, ask_seq=index + 1,
                                   attrs={"rung": rung, "proxy": ["synflow", "real:4"][rung],
                                          "bracket": 0, "order": index})  # fmt: skip
        score = 30.0 + index if rung == 0 else 0.5
        study.complete(number, score, scores={["synflow", "real:4"][rung]: score},
                       seconds=0.5, tell_seq=10 + index)  # fmt: skip
        if index in (1, 3):
            study.set_result("final", number, {"val_accuracy": 0.9 + index / 100,
                                               "test_accuracy": 0.89 + index / 100,
                                               "parameters": 1000 * (index + 1),
                                               "flops": 10_000 * (index + 1)})  # fmt: skip
    return study


def test_the_report_has_every_section_a_study_supports(tmp_path: Path) -> None:
    page = write_report(_study(tmp_path), tmp_path / "page").read_text()
    for section in ("ladder", "curves", "proxies", "top", "config"):
        assert f"<h2 id='{section}'>" in page, section
    assert set(SECTIONS) >= {"teacher", "ladder", "curves", "proxies", "top", "config"}
    assert "}}" not in page and "{{" not in page  # the style sheet is CSS, not f-string debris
    assert page.count("<img") >= 2 and "seed 0" in page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    from matplotlib.image import imread

    report = write_report(_study(tmp_path), tmp_path / "page")
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
         f"--screenshot={shot}", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shot.is_file(), done.stderr[-2000:]
    pixels = imread(shot)[..., :3]  # (H, W, 3) in [0, 1]
    assert pixels.shape[:2] == (1600, 1200)
    ink = (pixels.mean(axis=2) < 0.9).mean()  # share of pixels that are not (near) white
    assert 0.02 < ink < 0.6, ink  # text and plots, not a blank or an error page
    assert np.unique(pixels.reshape(-1, 3), axis=0).shape[0] > 50  # plots have colours
