"""Execute every notebook in notebooks/ in its quick setting and fail if any cell raises (the notebooks
assert the numbers they teach).

A notebook's cell tagged ``parameters`` sets its knobs (``QUICK = False`` at least); as papermill does, the
test inserts a cell right after it that sets ``QUICK = True``, so the suite runs each one in under a minute.
"""
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
OVERRIDES = "QUICK = True  # injected by tests/notebooks/test_notebooks.py"


def _require_jupyter():
    try:
        import ipykernel  # noqa: F401
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"executing notebooks needs nbformat, nbclient and ipykernel "
                    f"(pip install 'endorm[dev]'): {exc}")


def _parameters_index(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"a notebook needs exactly one cell tagged 'parameters', found {len(tagged)}"
    assert "QUICK" in nb.cells[tagged[0]].source, "the parameters cell must set QUICK"
    return tagged[0]


@pytest.mark.slow
def test_five_numbered_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert [n[:3] for n in names] == ["01_", "02_", "03_", "04_", "05_"], names


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path):
    _require_jupyter()
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    at = _parameters_index(nb)
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(OVERRIDES, metadata={"tags": ["injected-parameters"]}))
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell raised\n{exc}", pytrace=False)
    outputs = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert outputs, f"{path.name} printed nothing"
