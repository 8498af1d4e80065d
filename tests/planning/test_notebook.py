"""The planner notebook runs top to bottom on the sample data and reaches its conclusions."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "planner_yangpu.ipynb"


@pytest.mark.realdata
def test_planner_notebook_executes() -> None:
    import nbformat
    from nbclient import NotebookClient

    if not (ROOT / "data" / "yangpu" / "registry.gpkg").exists() or not (ROOT / "data" / "yangpu" / "osm").exists():
        pytest.skip("sample data missing: run `make data`")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:  # run from scratch, not from the stored outputs
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    texts = []
    images = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            texts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
            images += "image/png" in out.get("data", {})
    text = "\n".join(texts)
    assert images == 1  # the gap map
    assert "在步行15分钟内可到达爱心食堂" in text
    assert "贪心 / 精确" in text and "按精确解新增 2 个爱心食堂后" in text
