"""Importing LlamaTouch downloads: ground-truth episodes and AgentEnv execution traces.

``import_llamatouch_gt(PATH, OUT)`` converts every episode folder below ``PATH`` (a folder
holding ``instruction.txt`` and ``eventStructs.txt``) into ``OUT/traces/<task id>/`` and, when
the metadata TSV is given (or found at ``PATH/llamatouch_task_metadata.tsv``), writes the task
suite ``OUT/llamatouch.json``. ``import_agentenv(PATH, OUT)`` converts every AgentEnv trace
folder (one holding ``screenshot/``) into ``OUT/traces/<folder name>/``. Broken episodes are
skipped and reported; the import always finishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llamatouch.datasets.llamatouch_gt import (
    EpisodeMeta,
    convert_agentenv_trace,
    convert_gt_episode,
    first_line,
    metadata_tasks,
    read_task_metadata,
    task_id_for,
)
from llamatouch.datasets.problems import ImportProblem, ImportReport
from llamatouch.errors import InputFormatError, LlamaTouchError
from llamatouch.tasks import TaskSuite

METADATA_NAME = "llamatouch_task_metadata.tsv"
SUITE_NAME = "llamatouch"


@dataclass(slots=True)
class LlamaTouchImport:
    """What an import wrote.

    Attributes:
        tasks: tasks read from the metadata TSV (0 without one).
        episodes: episode folders converted into traces.
        traces: the trace folders written.
        problems: episodes skipped, and why.
        suite_path: the suite written from the metadata, if any.
    """

    tasks: int = 0
    episodes: int = 0
    traces: list[Path] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    suite_path: Path | None = None


def _episode_folders(root: Path) -> list[Path]:
    if (root / "instruction.txt").is_file():
        return [root]
    return sorted(p.parent for p in root.rglob("instruction.txt"))


def _episode_id(folder: Path) -> str:
    """The episode id of a folder (``""`` when ``instruction.txt`` cannot be read: the
    conversion then reports the problem)."""
    try:
        return first_line(folder / "instruction.txt")
    except InputFormatError:
        return ""


def import_llamatouch_gt(
    path: str | Path, out_dir: str | Path, *, metadata: str | Path | None = None
) -> LlamaTouchImport:
    """Convert LlamaTouch ground-truth episodes (and the metadata TSV) under ``path``."""
    root = Path(path).resolve()
    out = Path(out_dir)
    if not root.exists():
        raise InputFormatError(root, "no such folder")
    res = LlamaTouchImport()
    meta_path = Path(metadata) if metadata else root / METADATA_NAME
    by_episode: dict[str, EpisodeMeta] = {}
    if meta_path.is_file():
        metas = read_task_metadata(meta_path)
        by_episode = {m.episode: m for m in metas}
        suite = TaskSuite(suite=SUITE_NAME, world="", tasks=metadata_tasks(meta_path))
        res.suite_path = out / f"{SUITE_NAME}.json"
        suite.save(res.suite_path)
        res.tasks = len(suite.tasks)
    elif metadata:
        raise InputFormatError(meta_path, "metadata TSV not found")
    folders = _episode_folders(root) if root.is_dir() else []
    for folder in folders:
        source = str(folder.relative_to(root)) if folder != root else folder.name
        meta = by_episode.get(_episode_id(folder))
        name = task_id_for(meta) if meta else source.replace("/", "-")
        try:
            res.traces.append(convert_gt_episode(folder, out / "traces" / name, meta=meta))
        except LlamaTouchError as exc:
            res.problems.append(ImportProblem("episode_skipped", source, str(exc)))
            continue
        res.episodes += 1
    report = ImportReport("llamatouch-gt", str(root), str(out), problems=res.problems)
    report.save(out / "import-report.json")
    return res


def import_agentenv(path: str | Path, out_dir: str | Path) -> LlamaTouchImport:
    """Convert every AgentEnv execution trace folder under ``path``."""
    root = Path(path).resolve()
    out = Path(out_dir)
    if not root.is_dir():
        raise InputFormatError(root, "not a folder")
    folders = (
        [root]
        if (root / "screenshot").is_dir()
        else sorted(p.parent for p in root.rglob("screenshot") if p.is_dir())
    )
    res = LlamaTouchImport()
    for folder in folders:
        source = str(folder.relative_to(root)) if folder != root else folder.name
        name = source.replace("/", "-")
        try:
            res.traces.append(convert_agentenv_trace(folder, out / "traces" / name))
        except LlamaTouchError as exc:
            res.problems.append(ImportProblem("episode_skipped", source, str(exc)))
            continue
        res.episodes += 1
    ImportReport("agentenv", str(root), str(out), problems=res.problems).save(
        out / "import-report.json"
    )
    return res
