"""The planner notebook runs top to bottom on the sample data and reaches its conclusions."""

from __future__ import annotations

import time
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
    started = time.time() - 1
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
    assert "两种算法比较：" in text and "按整体最优的选址新增 2 个爱心食堂后" in text
    for jargon in ("目标值", "1 − 1/e", "Empty DataFrame"):
        assert jargon not in text
    # the sample workspace's report, made by the notebook
    pdf = ROOT / "data" / "yangpu" / "reports" / "爱心食堂步行15分钟规划报告.pdf"
    assert "已写入报告：爱心食堂步行15分钟规划报告.pdf（杨浦区爱心食堂步行15分钟服务圈规划报告）" in text
    assert pdf.stat().st_mtime >= started and pdf.read_bytes()[:5] == b"%PDF-"
