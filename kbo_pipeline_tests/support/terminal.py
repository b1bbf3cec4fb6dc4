"""Running a command on a pseudo-terminal, as a person at a terminal would."""

import os
import pty
from pathlib import Path


def run_on_a_terminal(argv: list[str], env: dict, cwd: Path | None = None) -> tuple[int, str]:
    """Exit code and everything the command wrote to its terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # the child
        if cwd is not None:
            os.chdir(cwd)
        os.execve(argv[0], argv, env)
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")
