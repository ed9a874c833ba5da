"""Every measured figure the README quotes comes from a record under ``benchmarks/``.

The README's convention: a figure is a number with a unit (s, ms, min, MB, GB, ×, %), or a
range or list of numbers ending in one ("2.8-3.5 s", "2.5 against 0.6 s"); a number after
"within", "at most", "up to", "every", "after" or "timeout of" is a limit or a setting, not a
measurement ("answers within 3 s"). Each paragraph, list
item or table that quotes one also names where it comes from and when: ``benchmarks/RESULTS.md``
(optionally with the section, ``benchmarks/RESULTS.md, "Many users opening the app at once"``) and
the date of the measurement (``2026-12-02``). Code blocks and inline code (commands, flags,
settings) are not figures.

A figure is recorded when some number of ``benchmarks/RESULTS.md`` (with its unit, or in a table
column whose header names the unit) or some value of a JSON file under ``benchmarks/`` (its unit
read from the key: ``*_s``, ``seconds``, ``*_ms``, ``*_mb``...) rounds to it at the README's
precision, converting between s and ms, MB and GB.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "RESULTS.md"

NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
UNIT = r"ms|s|min|minutes|GB|GiB|MB|MiB|×|%"
#: Numbers joined into one figure before a shared unit: "2.8-3.5 s", "2.5 against 0.6 s".
JOIN = r"\s*(?:-|–|/|to|and|or|against)\s*"
FIGURE = re.compile(rf"(?<![\w.,])((?:(?:{NUMBER}){JOIN})*(?:{NUMBER}))\s?({UNIT})(?![\w])")
#: Words before a number that make it a limit or a setting, not a measurement ("within 3 s").
LIMIT = re.compile(r"(?:within|at most|up to|every|after|timeout of)\s*$")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
POINTER = "benchmarks/RESULTS.md"
SECTIONS = re.compile(r'RESULTS\.md,\s+((?:"[^"]+"(?:\s*,\s*|\s+and\s+)?)+)')

#: Each unit's family and its factor to the family's base unit (MB also as MiB: JSON RSS).
SCALE = {"ms": ("time", 0.001), "s": ("time", 1.0), "min": ("time", 60.0), "minutes": ("time", 60.0),
         "MB": ("bytes", 1.0), "MiB": ("bytes", 1.0), "GB": ("bytes", 1000.0), "GiB": ("bytes", 1024.0),
         "×": ("ratio", 1.0), "%": ("percent", 1.0)}


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    decimals: int
    text: str


def _number(text: str) -> tuple[float, int]:
    plain = text.replace(",", "")
    return float(plain), len(plain.split(".")[1]) if "." in plain else 0


def figures(text: str) -> list[Figure]:
    """Each number of each figure in ``text``, with the figure's unit."""
    found = []
    for match in FIGURE.finditer(text):
        if LIMIT.search(text[:match.start()]):
            continue
        for number in re.findall(NUMBER, match.group(1)):
            value, decimals = _number(number)
            found.append(Figure(value, match.group(2), decimals, match.group(0)))
    return found


def prose_blocks(markdown: str) -> list[str]:
    """Paragraphs, list items and tables, without code blocks, inline code or link targets."""
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.S)
    blocks: list[str] = []
    for chunk in re.split(r"\n\s*\n", markdown):
        lines = [line for line in chunk.splitlines() if line.strip()]
        if not lines or all(line.startswith("    ") for line in lines):
            continue                                   # an indented code block
        item: list[str] = []
        for line in lines:
            if re.match(r"\s{0,3}[*-] ", line) and item:
                blocks.append("\n".join(item))
                item = []
            item.append(line)
        blocks.append("\n".join(item))
    cleaned = []
    for block in blocks:
        block = re.sub(r"`[^`]*`", " ", block)                     # commands, flags, names
        block = re.sub(r"\]\([^)]*\)", "]", block)                  # link targets
        block = re.sub(r"<[^>]+>", " ", block)                      # bare URLs
        block = re.sub(r"#+ .*", "", block)                         # headings
        cleaned.append(block)
    return cleaned


# -------------------------------------------------------------------------------- the records

def _unit_of_key(key: str) -> str | None:
    key = key.lower()
    if key.endswith("_ms") or "_ms_" in key or key.startswith("ms_"):
        return "ms"
    if key.endswith("_mb") or "_mb_" in key:
        return "MB"
    if key.endswith("_gb"):
        return "GB"
    if key.endswith("_s") or "seconds" in key or key in {"p50", "p95", "max", "min"} or "_s_" in key:
        return "s"
    if "ratio" in key or "speedup" in key:
        return "×"
    return None


def _json_values(node, unit: str | None, out: list[tuple[float, str | None]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _json_values(value, _unit_of_key(str(key)) or unit, out)
    elif isinstance(node, list):
        for value in node:
            _json_values(value, unit, out)
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and math.isfinite(node):
        out.append((float(node), unit))


def _table_values(markdown: str, out: list[tuple[float, str | None]]) -> None:
    """Numbers in table cells whose column header names a unit ("page interactive (s)")."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if not (line.startswith("|") and i + 1 < len(lines) and re.match(r"\|\s*-", lines[i + 1])):
            continue
        header = [cell.strip() for cell in line.strip("|").split("|")]
        units = []
        for cell in header:
            named = re.findall(rf"(?<![\w])({UNIT})(?![\w])", cell.replace("seconds", "s"))
            units.append(named[0] if len(set(named)) == 1 else None)
        for row in lines[i + 2:]:
            if not row.startswith("|"):
                break
            for cell, unit in zip(row.strip("|").split("|"), units):
                for number in re.findall(NUMBER, cell):
                    out.append((_number(number)[0], unit))


def recorded_values() -> list[tuple[float, str | None]]:
    """Every number of RESULTS.md (with its unit where it has one) and of the JSON records."""
    values: list[tuple[float, str | None]] = []
    results = RESULTS.read_text(encoding="utf-8")
    for figure in figures(results):
        values.append((figure.value, figure.unit))
    _table_values(results, values)
    for path in sorted(BENCHMARKS.glob("*.json")):
        _json_values(json.loads(path.read_text(encoding="utf-8")), None, values)
    return values


def is_recorded(figure: Figure, values: list[tuple[float, str | None]]) -> bool:
    family, factor = SCALE[figure.unit]
    half = 0.5 * 10.0 ** -figure.decimals + 1e-9
    for value, unit in values:
        if unit is None or SCALE[unit][0] != family:
            continue
        candidates = [value * SCALE[unit][1] / factor]
        if family == "bytes" and unit in ("MB", "MiB") and figure.unit == "GB":
            candidates.append(value / 1024.0)                   # MiB read as GB, as the records do
        if any(abs(c - figure.value) <= half for c in candidates):
            return True
    return False


def missing_figures(markdown: str, values: list[tuple[float, str | None]]) -> list[str]:
    return [f"{f.text!r} ({f.value:g} {f.unit})" for block in prose_blocks(markdown) for f in figures(block)
            if not is_recorded(f, values)]


def _sourced(block: str) -> bool:
    return POINTER in block and bool(DATE.search(block))


def unsourced_blocks(markdown: str) -> list[str]:
    """Blocks that quote a figure without naming benchmarks/RESULTS.md and a date (a table may
    take both from the paragraph just before it)."""
    bad, previous = [], ""
    for block in prose_blocks(markdown):
        table_after_source = block.lstrip().startswith("|") and _sourced(previous)
        if figures(block) and not _sourced(block) and not table_after_source:
            bad.append(" ".join(block.split())[:160])
        previous = block
    return bad


def result_headings() -> list[str]:
    return [" ".join(line.lstrip("#").split()) for line in RESULTS.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")]


def unknown_sections(markdown: str, headings: list[str]) -> list[str]:
    """Section names quoted after a pointer to RESULTS.md that begin no heading there."""
    text = " ".join(markdown.split())
    names = [name for group in SECTIONS.findall(text) for name in re.findall(r'"([^"]+)"', group)]
    return [name for name in names if not any(h.startswith(name) for h in headings)]


# -------------------------------------------------------------------------------- the README

@pytest.fixture(scope="module")
def values():
    return recorded_values()


def test_the_readme_quotes_figures():
    assert len([f for block in prose_blocks(README.read_text(encoding="utf-8")) for f in figures(block)]) >= 10


def test_every_figure_in_the_readme_is_in_a_record(values):
    missing = missing_figures(README.read_text(encoding="utf-8"), values)
    assert not missing, "README figures with no record under benchmarks/:\n" + "\n".join(missing)


def test_every_figure_in_the_readme_names_its_source_and_date():
    bad = unsourced_blocks(README.read_text(encoding="utf-8"))
    assert not bad, "README blocks quoting figures without benchmarks/RESULTS.md and a date:\n" + "\n".join(bad)


def test_the_sections_the_readme_names_exist_in_results():
    text = README.read_text(encoding="utf-8")
    assert SECTIONS.search(" ".join(text.split()))
    unknown = unknown_sections(text, result_headings())
    assert not unknown, f"README names sections RESULTS.md does not have: {unknown}"


# -------------------------------------------------------------------------------- the checker itself

def test_a_made_up_figure_is_reported_missing(values):
    text = "On the whole corpus it took 987.65 s and 43.21 GB (2026-12-02, benchmarks/RESULTS.md).\n"
    missing = missing_figures(text, values)
    assert len(missing) == 2 and "987.65" in missing[0] and "43.21" in missing[1]


def test_a_recorded_figure_is_found_at_the_readmes_rounding(values):
    # 1,645 s and 6.4 GB (RESULTS.md text); 733 MB (RESULTS.md) = 0.73 GB; 2,495.1 MB (JSON) = 2.50 GB
    text = "It took 1,645 s and 6.4 GB; extraction 0.73 GB, projection 2.50 GB (2026-12-02, benchmarks/RESULTS.md).\n"
    assert missing_figures(text, values) == []


def test_ranges_and_lists_are_checked_number_by_number(values):
    assert [f.value for f in figures("waited 2.8-3.5 s, and 2.5 against 0.6 s")] == [2.8, 3.5, 2.5, 0.6]
    assert missing_figures("waited 2.8-9876.5 s (2026-12-02, benchmarks/RESULTS.md)", values) != []


def test_code_and_settings_are_not_figures():
    text = ("Run `rnnpanel serve --port 5006` with `--n 300`:\n\n    sleep 5 s\n\n"
            "Above 20,000 states, 50 steps; it gives up unless it answers within 3 s.\n")
    assert [f for block in prose_blocks(text) for f in figures(block)] == []


def test_a_figure_without_its_source_or_date_is_reported():
    assert unsourced_blocks("It took 1,645 s.\n\nIt took 1,645 s (benchmarks/RESULTS.md).\n") == [
        "It took 1,645 s.", "It took 1,645 s (benchmarks/RESULTS.md)."]
    assert unsourced_blocks("It took 1,645 s (2026-12-02, benchmarks/RESULTS.md).\n") == []
    table = "| run | time |\n|---|---|\n| whole corpus | 1,645 s |\n"
    assert unsourced_blocks("Measured (2026-12-02, benchmarks/RESULTS.md):\n\n" + table) == []
    assert unsourced_blocks("Measured:\n\n" + table) == ["| run | time | |---|---| | whole corpus | 1,645 s |"]


def test_a_section_name_results_lacks_is_reported():
    text = 'See benchmarks/RESULTS.md, "Many users at twice" and "Refining every state".'
    assert unknown_sections(text, result_headings()) == ["Many users at twice"]
