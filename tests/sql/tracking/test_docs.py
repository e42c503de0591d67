"""The example of docs/tracking.md runs as written and gives the results it shows."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "tracking.md"


def example_block():
    text = DOC.read_text()
    section = text.split("## Example", 1)[1]
    return re.search(r"```sql\n(.*?)```", section, re.S).group(1)


def shown_results(block):
    """Each SELECT of the example with the rows shown under it as comments."""
    results = []
    for chunk in re.split(r"\n(?=SELECT [^;]*;\n--   )", block):
        match = re.match(r"(SELECT [^;]*;)\n((?:--   .*\n?)+)", chunk)
        if match:
            rows = [
                tuple(cell.strip() for cell in line[5:].split("|"))
                for line in match.group(2).strip().splitlines()
            ]
            results.append((match.group(1), rows))
    return results


def test_example_runs_and_shows_the_right_results(db):
    block = example_block()
    db.execute(block)
    results = shown_results(block)
    assert len(results) == 3
    for query, rows in results:
        got = [tuple(str(v) for v in r) for r in db.execute(query).fetchall()]
        assert got == rows, query
    # "one statement, two steps, one log row"
    assert db.execute(
        "SELECT count(*), sum(count) FROM achievements.user_steps WHERE name = 'publish'"
    ).fetchone() == (1, 2)
