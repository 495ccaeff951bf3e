"""Proxy scores kept as plain JSON beside the studies that computed them.

Scoring a truth set caches each proxy's scores in a study (``OUT/studies.db``), which lives on
one machine. An archive folder keeps the same scores as one JSON file per study (named as the
study), small enough to commit: a fresh clone or another machine reads them instead of scoring
again, and scores only the architectures the archive lacks. This is sound because a proxy's
score depends only on (proxy, seed, blueprint, teacher weights, genotype), all of which the
study name carries except the genotype, which keys the file's records (see
:mod:`gtnas.search.executor`).

File format (version 1)::

    {"format": "gtnas-scores", "version": 1, "study": NAME, "proxy": "gtn:32",
     "eval_examples": 5000,
     "real_lr": {"lr": 0.05, ...} | null, "source": null | "restored from ...",
     "records": {GENOTYPE: {"score": 0.81 | null, "lowest": false, "seconds": 5.9,
                            "repeats": [0.80, 0.82] | null}}}

``"lowest": true`` (score null) is a score of minus infinity: a zero-cost proxy that found no
signal, the lowest rank, which strict JSON cannot write. Reading parses JSON only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtnas.errors import GtnasError
from gtnas.runtime.files import atomic_write_text

FORMAT, VERSION = "gtnas-scores", 1


@dataclass(frozen=True)
class ArchivedScore:
    score: float  # -inf: the lowest score (see the module docstring)
    seconds: float | None
    repeats: list[float] | None = None  # gtn:KxR / real:KxR: each learner's accuracy


@dataclass
class ScoreArchive:
    study: str
    proxy: str
    eval_examples: int  # validation images each trained learner was scored on (not in the name)
    records: dict[str, ArchivedScore] = field(default_factory=dict)  # genotype -> its score
    real_lr: dict[str, Any] | None = None  # the study's tuned real:K learning rate, if any
    source: str | None = None  # where scores not computed by this code path came from

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "study": self.study,
            "proxy": self.proxy,
            "eval_examples": self.eval_examples,
            "real_lr": self.real_lr,
            "source": self.source,
            "records": {
                genotype: {
                    "score": record.score if math.isfinite(record.score) else None,
                    "lowest": record.score == -math.inf,
                    "seconds": record.seconds,
                    "repeats": record.repeats,
                }
                for genotype, record in sorted(self.records.items())
            },
        }

    @classmethod
    def from_json(cls, document: dict[str, Any], source: Path) -> ScoreArchive:
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise GtnasError(
                f"{source} is not a gtnas score archive of version {VERSION}; "
                "move it out of the archive folder"
            )
        records = {}
        for genotype, entry in document["records"].items():
            if entry.get("lowest"):
                score = -math.inf
            elif entry.get("score") is None:
                raise GtnasError(f"{source}: {genotype} has no score; delete the file to rescore")
            else:
                score = float(entry["score"])
            records[genotype] = ArchivedScore(score, entry.get("seconds"), entry.get("repeats"))
        return cls(
            document["study"],
            document["proxy"],
            int(document["eval_examples"]),
            records,
            document.get("real_lr"),
            document.get("source"),
        )


def archive_path(folder: Path, study: str) -> Path:
    return Path(folder) / f"{study}.json"


def read_archive(folder: Path, study: str, proxy: str, eval_examples: int) -> ScoreArchive:
    """The archived scores of ``study`` (empty when the folder has none)."""
    path = archive_path(folder, study)
    if not path.is_file():
        return ScoreArchive(study, proxy, eval_examples)
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GtnasError(f"{path} is not valid JSON ({error}); delete it to rescore") from error
    archive = ScoreArchive.from_json(document, path)
    if archive.study != study or archive.proxy != proxy:
        raise GtnasError(
            f"{path} holds study {archive.study} ({archive.proxy}), not {study} ({proxy}); "
            "move it out of the archive folder"
        )
    if archive.eval_examples != eval_examples:
        raise GtnasError(
            f"{path} was scored on eval_examples={archive.eval_examples}, not {eval_examples}; "
            "pass that or another --archive folder"
        )
    return archive


def write_archive(folder: Path, archive: ScoreArchive) -> None:
    """Write atomically: an interrupted write leaves the old file."""
    path = archive_path(folder, archive.study)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(archive.to_json(), indent=1, allow_nan=False) + "\n"
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
