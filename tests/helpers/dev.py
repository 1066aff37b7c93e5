"""`journeys dev` as a process, for the tests that run it (the CLI's, the README's)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import free_port

JOURNEYS = [sys.executable, "-P", "-m", "journeys.cli"]
# What `journeys dev` prints when the demo welcome email (template 5) goes to Ana.
WELCOME_ANA_SENT = "Sent email to ana@example.com via outbox: Welcome to Demo, Ana!"


class Dev:
    """A `journeys dev` process and what it printed."""

    def __init__(
        self, data_dir: Path, *extra: str, command: list[str] = JOURNEYS, cwd: Path | None = None
    ) -> None:
        self.port, self.temporal_port, self.ui_port = free_port(), free_port(), free_port()
        args = [
            "dev",
            "--port",
            str(self.port),
            "--temporal-port",
            str(self.temporal_port),
            "--ui-port",
            str(self.ui_port),
            "--data-dir",
            str(data_dir),
            *extra,
        ]
        env = {k: v for k, v in os.environ.items() if k != "JOURNEYS_DATABASE_URL"}
        self.process = subprocess.Popen(
            [*command, *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        assert self.process.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                return
        raise AssertionError("journeys dev did not start:\n" + "\n".join(self.lines))

    def printed(self, label: str) -> str:
        return next(
            line.split(":", 1)[1].strip() for line in self.lines if line.strip().startswith(label)
        )

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        assert self.process.stdout is not None
        self.lines += self.process.stdout.read().splitlines()
        return code
