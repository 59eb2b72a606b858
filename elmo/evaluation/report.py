"""The suite's results as a markdown report and as JSON.

EVALUATION.md also holds sections that other commands write (``elmo task table``'s results of
trained task heads), between HTML comment markers that Markdown does not show.  Each command
owns only its part: ``elmo evaluate`` rewrites the file but keeps a marked section as it was,
and the other command replaces only what lies between its markers.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast
from urllib.parse import quote

from elmo.errors import InvalidInputError
from elmo.evaluation.features import view_names
from elmo.evaluation.runner import EvalReport, ModelResults

__all__ = [
    "PROBE_TASKS",
    "TASK_TABLE_END",
    "TASK_TABLE_START",
    "marked_section",
    "report_json",
    "report_markdown",
    "task_name",
    "with_section",
]

PROBE_TASKS = ("pos", "wsd", "polarity")  # scored per view: the table and the chart
TASK_TABLE_START = "<!-- task-table:start -->"  # elmo task table's section of the report
TASK_TABLE_END = "<!-- task-table:end -->"


def report_json(report: EvalReport) -> dict[str, Any]:
    return {
        "model": report.model,
        "path": report.path,
        "summary": report.summary,
        "sizes": asdict(report.sizes),
        "data": {name: asdict(p) for name, p in report.data.packages.items()},
        "seconds": round(report.seconds, 1),
        "command": report.command,
        "models": [
            {
                "label": m.label,
                "results": {task: asdict(r) for task, r in m.results.items()},
                "skipped": m.skipped,
            }
            for m in report.models
        ],
    }


def report_markdown(report: EvalReport, chart: str | None = None) -> str:
    """``chart``: the probe chart's path relative to the Markdown file, linked under the table
    (None when none was drawn: the report never links a missing picture)."""
    views = view_names(int(report.summary["layers"]))
    s = report.summary
    lines = [
        f"# Evaluation of `{report.model}`",
        "",
        f"Model: `{report.path}` — {s['cell']} cells, {s['layers']} layers of {s['dim']} "
        f"dimensions, {s['parameters']:,} parameters, {s['tokenizer']}. Frozen features; "
        "`layer 0` is the context-free token layer, `average` the equal-weight scalar mix.",
        "",
    ]
    if report.command:
        lines += ["Regenerate with:", "", "```bash", report.command, "```", ""]
    rows = []
    for task in PROBE_TASKS:
        for m in report.models:
            result = m.results.get(task)
            if result is None:
                continue
            cells = [f"{result.scores[v]:.1f}" for v in views]
            base = "; ".join(f"{k} {v:.1f}" for k, v in result.baselines.items())
            rows.append(f"| {task_name(task)} | {m.label} | " + " | ".join(cells) + f" | {base} |")
    if rows:
        header = "| task | model | " + " | ".join(views) + " | baseline |"
        lines += ["## Probes (accuracy %, test split)", "", header]
        lines += ["|" + " --- |" * (len(views) + 3), *rows, ""]
        if chart is not None:
            lines += [f"![Probe accuracy per layer]({quote(chart)})", ""]
        lines += _task_notes(report.models[0])
    lines += _lm_section(report.models)
    lines += _pairs_section(report.models, views)
    skipped = [f"- {m.label}, {t}: {why}" for m in report.models for t, why in m.skipped.items()]
    if skipped:
        lines += ["## Skipped", "", *skipped, ""]
    if report.data.packages:
        lines += ["## Data", ""]
    for name, package in sorted(report.data.packages.items()):
        lines.append(
            f"- {name}: {package.registry} `{package.name}=={package.version}` ({package.licence})"
        )
    sizes = ", ".join(f"{k} {v}" for k, v in asdict(report.sizes).items())
    lines += ["", f"Sizes: {sizes}. Wall time {report.seconds:.0f} s.", ""]
    return "\n".join(lines)


def task_name(task: str) -> str:
    """A probe or task-table task as the report and the chart title it."""
    names = {
        "pos": "POS (Brown)",
        "pos-es": "POS (Spanish Wikicorpus)",
        "wsd": "word sense (WordNet)",
        "polarity": "polarity",
    }
    return names[task]


def _task_notes(results: ModelResults) -> list[str]:
    notes = []
    for task in PROBE_TASKS:
        r = results.results.get(task)
        if r is not None:
            sizes = ", ".join(f"{k} {v}" for k, v in r.details.items() if not isinstance(v, dict))
            notes.append(f"- {task_name(task)}: {r.title}; {sizes}.")
    return [*notes, ""] if notes else []


def _lm_section(models: list[ModelResults]) -> list[str]:
    rows = [(m.label, m.results["lm"]) for m in models if "lm" in m.results]
    if not rows:
        return []
    lines = [
        "## Language-model perplexity (held-out text)",
        "",
        "| model | forward | backward | mean | per word: forward | backward | mean |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, r in rows:
        word = cast("dict[str, float]", r.details["per word"])  # direction → perplexity
        lines.append(
            f"| {label} | {r.scores['forward']:.1f} | {r.scores['backward']:.1f} | "
            f"{r.scores['mean']:.1f} | {word['forward']:.1f} | {word['backward']:.1f} | "
            f"{word['mean']:.1f} |"
        )
    first = rows[0][1].details
    lines += [
        "",
        f"Per unit = per sentencepiece unit; per word divides the same NLL by words + 1. "
        f"{first['sentences']} sentences, {first['words']} words.",
        "",
    ]
    return lines


def _pairs_section(models: list[ModelResults], views: list[str]) -> list[str]:
    lines = []
    for m in models:
        r = m.results.get("pairs")
        if r is None:
            continue
        lines += [f"## A word in two contexts — {m.label} (cosine)", ""]
        lines += ["| pair | " + " | ".join(views) + " |", "|" + " --- |" * (len(views) + 1)]
        pairs = cast("dict[str, dict[str, float]]", r.details["pairs"])  # label → view → cosine
        for label, row in pairs.items():
            lines.append(f"| {label} | " + " | ".join(f"{row[v]:.3f}" for v in views) + " |")
        lines.append("")
    return lines


def marked_section(text: str, where: str = "the report") -> str | None:
    """The task-table section of ``text``, markers included, or None when it has none; a start
    marker without its end marker is an error (``where`` names the file), since guessing where
    the section ends could drop what a person wrote after it."""
    start = text.find(TASK_TABLE_START)
    if start < 0:
        return None
    end = text.find(TASK_TABLE_END, start)
    if end < 0:
        raise InvalidInputError(
            f"{where}: has {TASK_TABLE_START} but no {TASK_TABLE_END} after it; add the end "
            "marker where the task table ends, or remove the start marker"
        )
    return text[start : end + len(TASK_TABLE_END)]


def with_section(text: str, section: str, where: str = "the report") -> str:
    """``text`` with its task-table section replaced by ``section`` (which carries the
    markers), or with ``section`` appended after a blank line when it has none; every other
    byte of ``text`` is kept."""
    if not (section.startswith(TASK_TABLE_START) and section.endswith(TASK_TABLE_END)):
        raise ValueError("a task-table section starts and ends with its markers")
    old = marked_section(text, where)
    if old is not None:
        start = text.find(old)
        return text[:start] + section + text[start + len(old) :]
    if not text:
        return section + "\n"
    return text + ("\n" if text.endswith("\n") else "\n\n") + section + "\n"
