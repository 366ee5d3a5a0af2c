"""run_python's sandbox on its own, as an attacker would use it: each attack is contained, and the next call
works. Every test runs under both isolation kinds this machine has (bubblewrap where it works, and always the
rlimits fallback); what only namespaces can promise is checked under bubblewrap alone."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from tools.errors import ToolError
from tools.sandbox import RunPythonRequest, RunPythonResult, Sandbox, SandboxLimits, SandboxSettings

LIMITS = SandboxLimits(cpu_s=1, wall_s=2.0, output_bytes=4096)
MARGIN_S = 3.0  # start-up, kill and clean-up on a loaded 2-core machine; a limit not enforced takes far longer


def _sandbox(kind: str) -> Sandbox:
    sandbox = Sandbox(SandboxSettings(limits=LIMITS, isolation=kind))  # type: ignore[arg-type]
    if sandbox.isolation() is None:
        pytest.skip(f"{kind} isolation does not work here: {sandbox.problem}")
    return sandbox


@pytest.fixture(scope="module", params=["bubblewrap", "rlimits"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    return _sandbox(request.param)


@pytest.fixture(scope="module")
def bwrap() -> Sandbox:
    return _sandbox("bubblewrap")


async def run(sandbox: Sandbox, code: str, stdin: str | None = None) -> RunPythonResult:
    return await sandbox.run(RunPythonRequest(code=code, stdin=stdin))


async def still_works(sandbox: Sandbox) -> None:
    result = await run(sandbox, "print(sum(range(10)))")
    assert (result.stdout, result.exit_code, result.limit) == ("45\n", 0, None)


def marked_processes(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            pass
    return found


async def test_a_program_runs_with_stdin_and_exit_status(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import sys\ndata = sys.stdin.read()\nprint(data.upper())\nsys.exit(3)", "héllo")
    assert (result.stdout, result.exit_code, result.signal, result.limit) == ("HÉLLO\n", 3, None, None)
    failed = await run(sandbox, "1 / 0")
    assert failed.exit_code == 1 and "ZeroDivisionError" in failed.stderr and failed.limit is None


async def test_the_environment_is_empty_and_the_directory_too(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFBENCH_SECRET_FOR_TEST", "do-not-leak")
    result = await run(sandbox, "import os\nprint(sorted(os.environ), os.listdir('.'))")
    assert "AFBENCH_SECRET_FOR_TEST" not in result.stdout and "PATH" not in result.stdout
    assert result.stdout.rstrip().endswith("[]"), result.stdout


async def test_an_infinite_cpu_loop_is_ended_by_the_cpu_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "while True: pass")
    assert result.limit == "cpu" and result.signal in ("SIGXCPU", "SIGKILL") and result.exit_code is None
    assert result.duration_ms < (LIMITS.cpu_s + 1 + MARGIN_S) * 1000
    await still_works(sandbox)


async def test_sleeping_forever_is_ended_by_the_wall_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import time\ntime.sleep(60)")
    assert result.limit == "wall" and result.signal == "SIGKILL"
    assert result.duration_ms < (LIMITS.wall_s + MARGIN_S) * 1000
    await still_works(sandbox)


async def test_a_memory_bomb_hits_the_memory_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "x = bytearray(1024 * 1024 * 1024)")
    assert result.limit == "memory" and "MemoryError" in result.stderr
    await still_works(sandbox)


async def test_huge_output_is_cut_flagged_and_ends_the_run(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import sys\nwhile True:\n    sys.stdout.write('x' * 1000)\n    sys.stderr.write('y')")
    assert result.limit == "output" and result.stdout_truncated
    assert len(result.stdout) == LIMITS.output_bytes and set(result.stdout) == {"x"}
    assert result.duration_ms < (LIMITS.wall_s + MARGIN_S) * 1000
    await still_works(sandbox)


async def test_a_fork_bomb_is_held_to_the_process_limit_and_leaves_nothing(sandbox: Sandbox) -> None:
    if sandbox.isolation().kind == "rlimits" and os.geteuid() != 0:  # type: ignore[union-attr]
        pytest.skip("without namespaces the process limit needs a root server (a uid of its own per call)")
    marker = f"bomb-{uuid.uuid4().hex}"
    code = (
        "import os, sys, time\n"
        "made = failed = 0\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        f"            os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(30)  # {marker}'])\n"
        "        made += 1\n"
        "    except OSError:\n"
        "        failed += 1\n"
        "print(made, failed, flush=True)\n"
        "time.sleep(30)\n"
    )
    result = await run(sandbox, code)
    made, failed = map(int, result.stdout.split())
    assert made < LIMITS.processes and failed > 0, result
    assert result.limit == "wall"
    assert marked_processes(marker) == []
    await still_works(sandbox)


async def test_a_child_that_leaves_its_session_does_not_outlive_the_call(sandbox: Sandbox) -> None:
    marker = f"orphan-{uuid.uuid4().hex}"
    code = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(30)  # {marker}'])\n"
        "    os._exit(0)\n"
        "print('parent done')\n"
    )
    if sandbox.isolation().kind == "rlimits" and os.geteuid() != 0:  # type: ignore[union-attr]
        pytest.skip("without namespaces, a child that calls setsid escapes a non-root server's clean-up")
    result = await run(sandbox, code)
    assert result.exit_code == 0 and "parent done" in result.stdout
    time.sleep(0.2)  # the grandchild has had time to exec, had it survived
    assert marked_processes(marker) == []


async def test_killing_the_parent_does_not_kill_us(sandbox: Sandbox) -> None:
    if sandbox.isolation().kind == "rlimits" and os.geteuid() != 0:  # type: ignore[union-attr]
        pytest.skip("without namespaces, a non-root server runs the code as its own user, who may signal it")
    result = await run(sandbox, "import os\ntry:\n    os.kill(os.getppid(), 9)\nexcept OSError as e:\n    print(e)")
    assert result.limit is None
    await still_works(sandbox)  # this test process, the parent, is alive to run it


async def test_the_file_size_limit_holds(sandbox: Sandbox) -> None:
    code = (
        "import os\n"
        "fd = os.open('big', os.O_WRONLY | os.O_CREAT)\n"
        f"print(os.write(fd, b'0' * {LIMITS.file_bytes + 1}), flush=True)\n"  # a short write, up to the limit
        "os.write(fd, b'0')\n"
    )
    result = await run(sandbox, code)
    assert result.stdout == f"{LIMITS.file_bytes}\n" and result.exit_code == 1 and "File too large" in result.stderr


async def test_private_files_of_the_server_cannot_be_read_or_written(sandbox: Sandbox, tmp_path: Path) -> None:
    if sandbox.isolation().kind == "rlimits" and os.geteuid() != 0:  # type: ignore[union-attr]
        pytest.skip("without namespaces, a non-root server runs the code as its own user, who owns its files")
    secret = tmp_path / "sessions.sqlite"
    secret.write_text("secret")
    os.chmod(tmp_path, 0o700)
    code = (
        f"for path in ({str(secret)!r}, {str(tmp_path / 'new')!r}, '/usr/planted'):\n"
        "    try:\n"
        "        open(path, 'a').write('x')\n"
        "        print('wrote', path)\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
        f"print(open({str(secret)!r}).read())\n"
    )
    result = await run(sandbox, code)
    assert "wrote" not in result.stdout and "secret" not in result.stdout
    assert not (tmp_path / "new").exists() and not Path("/usr/planted").exists() and secret.read_text() == "secret"


async def test_bubblewrap_hides_the_host_root(bwrap: Sandbox) -> None:
    result = await run(bwrap, "import os\nprint(sorted(os.listdir('/')), os.path.exists('/etc/passwd'))")
    assert result.stdout.strip() == "['bin', 'dev', 'lib', 'lib64', 'proc', 'sandbox', 'sbin', 'tmp', 'usr'] False"
    marker = Path("/tmp") / f"planted-{uuid.uuid4().hex}"
    written = await run(bwrap, f"open({str(marker)!r}, 'w').write('x')\nprint('ok')")
    assert written.stdout == "ok\n" and not marker.exists()  # its /tmp is a tmpfs of its own


async def test_bubblewrap_has_no_network(bwrap: Sandbox) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    code = (
        "import socket\n"
        f"for address in (('1.1.1.1', 80), ('127.0.0.1', {port})):\n"
        "    try:\n"
        "        socket.create_connection(address, timeout=1)\n"
        "        print('connected')\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
    )
    try:
        result = await run(bwrap, code)
    finally:
        listener.close()
    assert result.stdout.split() == ["OSError", "ConnectionRefusedError"], result


async def test_a_nul_character_is_a_clear_error(sandbox: Sandbox) -> None:
    with pytest.raises(ToolError) as raised:
        await run(sandbox, "print(1)\x00")
    assert raised.value.code.value == "invalid_argument"
