"""The example of docs/streaks.md runs as written and gives the result it shows, and every
SQLSTATE the streak functions raise is in its table of errors."""

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs" / "streaks.md"
SQL = Path(__file__).resolve().parents[3] / "sql" / "10_streaks"


def test_example_runs_and_shows_its_result(db):
    text = DOCS.read_text()
    block = re.search(r"```sql\n(.*?)```", text.split("## Example", 1)[1], re.S).group(1)
    db.execute(block)
    query, shown = re.search(r"(SELECT step, current[^;]*;)\n--   (.*)\n", block).groups()
    got = [str(v) for v in db.execute(query).fetchone()]
    assert got == [cell.strip() for cell in shown.split("|")]


def test_every_streak_error_is_documented():
    raised = set()
    for path in SQL.glob("*.sql"):
        raised |= set(re.findall(r"ERRCODE = '(AD3\d\d)'", path.read_text()))
    raised |= set(
        re.findall(
            r"ERRCODE = '(AD3\d\d)'", (SQL.parent / "03_steps" / "04_record_step.sql").read_text()
        )
    )
    documented = set(re.findall(r"\| (AD3\d\d) \|", DOCS.read_text()))
    assert raised == documented == {"AD301", "AD302", "AD303"}
