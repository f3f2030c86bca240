"""Sections of docs/benchmarks.md that standalone benchmarks write (``bench.report``): a full
run keeps them, and a standalone run replaces its own section only."""

from __future__ import annotations

from pathlib import Path

from bench.report import kept_sections, replace_section


def test_a_section_is_added_before_the_caveats_then_replaced_in_place(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nintro\n\n## Caveats\n\n- one\n")

    replace_section(page, "one", ["## One", "", "first run"])
    replace_section(page, "two", ["## Two", "", "two's run"])
    replace_section(page, "one", ["## One", "", "second run"])

    text = page.read_text()
    assert "first run" not in text
    assert text.index("second run") < text.index("two's run") < text.index("## Caveats")
    assert text.count("## One") == 1
    assert text.startswith("# Benchmarks\n\nintro\n")


def test_kept_sections_carry_every_section_with_its_markers(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    assert kept_sections(page) == []  # no page yet
    page.write_text("# Benchmarks\n\n## Caveats\n")
    replace_section(page, "one", ["## One", "body"])

    assert kept_sections(page) == [
        "<!-- section: one -->",
        "## One",
        "body",
        "<!-- /section: one -->",
        "",
    ]
