"""Load documents into the RAG application (`POST <url>/ingest`).

    python tools/ingest.py --url http://127.0.0.1:8000/rag docs/ README.md

Every file (directories are searched for *.md, *.txt and *.rst) becomes one document whose source is
its path; the application chunks, embeds and stores it, replacing an earlier version of the same
file. The API key comes from --api-key or $RAG_API_KEY when the application requires one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import httpx

SUFFIXES = {".md", ".txt", ".rst"}


def find_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        else:
            files.append(path)
    return files


def ingest(url: str, files: list[Path], api_key: str, batch_size: int, timeout_s: float) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    totals = {"documents": 0, "chunks": 0}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s) as client:
        for start in range(0, len(files), batch_size):
            batch = files[start : start + batch_size]
            documents = [{"source": str(f), "text": f.read_text()} for f in batch]
            response = client.post("/ingest", json={"documents": documents})
            if response.status_code != 200:
                raise SystemExit(f"ingest failed ({response.status_code}): {response.text}")
            for key in totals:
                totals[key] += response.json()[key]
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", type=Path, help="files or directories")
    parser.add_argument("--url", default=os.environ.get("RAG_URL", "http://127.0.0.1:8000/rag"))
    parser.add_argument("--api-key", default=os.environ.get("RAG_API_KEY", ""))
    parser.add_argument("--batch-size", type=int, default=32, help="documents per request")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per request")
    args = parser.parse_args(argv)
    files = find_files(args.paths)
    if not files:
        parser.error("no documents found")
    totals = ingest(args.url, files, args.api_key, args.batch_size, args.timeout)
    print(f"ingested {totals['documents']} documents as {totals['chunks']} chunks into {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
