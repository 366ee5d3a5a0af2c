#!/usr/bin/env python3
"""Retrieval benchmark for the RAG tool: recall@k, MRR and query latency of every strategy on the legal corpus.

Builds (or loads) the bundled legal index, then asks every question of ``tools/data/corpus/legal_eval.yaml``
with each strategy. A question is a hit when any of its ``relevant`` document ids is among the top-k hits'
documents; MRR uses the rank of the first relevant hit (0 when none is in the top k). Latency is measured per
query after a warm-up and includes embedding the query. Peak RSS is the process's maximum resident set with
the embedding model loaded.

    python scripts/bench_retrieval.py            # table
    python scripts/bench_retrieval.py --json     # machine-readable
    python scripts/bench_retrieval.py --fresh    # time a cold build in a temporary folder

Goals (from the issue): best strategy recall@5 >= 0.9, its p50 latency <= 50 ms, peak RSS <= 1.5 GB.
``--check`` exits with status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tools._paths import CORPUS_DIR
from tools.embeddings import get_embedder
from tools.rag import STRATEGIES, RagIndex, default_paths
from tools.rag.chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS

EVAL_FILE = CORPUS_DIR / "legal_eval.yaml"
GOAL_RECALL = 0.9
GOAL_P50_MS = 50.0
GOAL_RSS_MB = 1536.0


def load_questions(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    questions = data.get("questions") if isinstance(data, dict) else None
    if not questions:
        raise SystemExit(f"{path}: no questions")
    for entry in questions:
        if not entry.get("question") or not entry.get("relevant"):
            raise SystemExit(f"{path}: question {entry.get('id')!r} needs 'question' and 'relevant'")
    return list(questions)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


async def run_strategy(
    index: RagIndex, strategy: str, questions: list[dict[str, Any]], k: int, warmup: int, params: dict[str, Any]
) -> dict[str, Any]:
    for entry in questions[:warmup]:
        await index.search(entry["question"], k=k, strategy=strategy, **params)
    hits = 0
    reciprocal_ranks: list[float] = []
    latencies: list[float] = []
    for entry in questions:
        relevant = set(entry["relevant"])
        started = time.perf_counter()
        result = await index.search(entry["question"], k=k, strategy=strategy, **params)
        latencies.append((time.perf_counter() - started) * 1000)
        ranks = [hit.rank for hit in result.hits if hit.doc_id in relevant]
        hits += bool(ranks)
        reciprocal_ranks.append(1 / ranks[0] if ranks else 0.0)
    return {
        "strategy": strategy,
        "params": params,
        f"recall@{k}": hits / len(questions),
        "mrr": statistics.fmean(reciprocal_ranks),
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
    }


async def main(args: argparse.Namespace) -> int:
    questions = load_questions(args.eval)
    started = time.perf_counter()
    embedder = get_embedder()
    model_s = time.perf_counter() - started

    corpus, default_dir = default_paths()
    custom = (args.chunk_tokens, args.overlap_tokens) != (DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS)
    scratch = tempfile.TemporaryDirectory(prefix="afbench-rag-bench-") if args.fresh or custom else None
    index_dir = Path(scratch.name) / "index" if scratch else default_dir
    started = time.perf_counter()
    index = await RagIndex.aopen(
        [corpus],
        index_dir,
        embedder=embedder,
        chunk_tokens=args.chunk_tokens,
        overlap_tokens=args.overlap_tokens,
    )
    build_s = time.perf_counter() - started

    known = {d.doc_id for d in index.documents()}
    unknown = sorted({doc for entry in questions for doc in entry["relevant"]} - known)
    rows = [
        await run_strategy(index, s, questions, args.k, args.warmup, args.params.get(s, {})) for s in args.strategies
    ]
    rss = peak_rss_mb()
    if scratch:
        scratch.cleanup()

    recall_key = f"recall@{args.k}"
    best = max(rows, key=lambda row: (row[recall_key], row["mrr"], -row["p50_ms"]))
    goals = {
        f"best {recall_key} >= {GOAL_RECALL}": best[recall_key] >= GOAL_RECALL,
        f"p50 of best <= {GOAL_P50_MS:g} ms": best["p50_ms"] <= GOAL_P50_MS,
        f"peak RSS <= {GOAL_RSS_MB:g} MB": rss <= GOAL_RSS_MB,
    }
    report = {
        "questions": len(questions),
        "k": args.k,
        "documents": len(known),
        "chunks": index.chunk_count,
        "chunk_tokens": args.chunk_tokens,
        "overlap_tokens": args.overlap_tokens,
        "index": "built" if index.rebuilt else "loaded",
        "index_seconds": round(build_s, 3),
        "model_load_seconds": round(model_s, 3),
        "peak_rss_mb": round(rss, 1),
        "unknown_relevant_ids": unknown,
        "strategies": [{key: round(v, 4) if isinstance(v, float) else v for key, v in row.items()} for row in rows],
        "best": best["strategy"],
        "goals": goals,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report, recall_key)
    return 0 if all(goals.values()) or not args.check else 1


def print_table(report: dict[str, Any], recall_key: str) -> None:
    print(
        f"legal corpus: {report['documents']} documents, {report['chunks']} chunks "
        f"(chunk_tokens={report['chunk_tokens']}, overlap={report['overlap_tokens']}); "
        f"index {report['index']} in {report['index_seconds']:.2f} s; model loaded in "
        f"{report['model_load_seconds']:.2f} s; {report['questions']} questions"
    )
    if report["unknown_relevant_ids"]:
        print(f"warning: relevant ids not in the index: {', '.join(report['unknown_relevant_ids'])}")
    print()
    print(f"{'strategy':<12}{recall_key:>10}{'MRR':>8}{'p50 ms':>9}{'p95 ms':>9}")
    for row in report["strategies"]:
        params = " ".join(f"{name}={value}" for name, value in row["params"].items())
        print(
            f"{row['strategy']:<12}{row[recall_key]:>10.3f}{row['mrr']:>8.3f}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
            f"  {params}".rstrip()
        )
    print()
    print(f"peak RSS: {report['peak_rss_mb']:.0f} MB; best strategy: {report['best']}")
    for goal, met in report["goals"].items():
        print(f"  [{'ok' if met else 'MISSED'}] {goal}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--k", type=int, default=5, help="hits per question (default 5)")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead of a table")
    parser.add_argument("--fresh", action="store_true", help="build a new index in a temporary folder")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up queries per strategy (default 3)")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--chunk-tokens", type=int, default=DEFAULT_CHUNK_TOKENS)
    parser.add_argument("--overlap-tokens", type=int, default=DEFAULT_OVERLAP_TOKENS)
    parser.add_argument("--eval", type=Path, default=EVAL_FILE, help="labelled questions (YAML)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="STRATEGY.NAME=VALUE",
        help="a strategy parameter, e.g. dartboard.sigma=0.2 or mmr.lambda_mult=0.7 (repeatable)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.k <= 50:
        parser.error("--k must be between 1 and 50")
    args.params = {}
    for item in args.param:
        key, _, value = item.partition("=")
        strategy, _, name = key.partition(".")
        if strategy not in STRATEGIES or not name or not value:
            parser.error(f"--param {item!r}: expected STRATEGY.NAME=VALUE with a known strategy")
        number = float(value)
        args.params.setdefault(strategy, {})[name] = int(number) if number.is_integer() and "." not in value else number
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
