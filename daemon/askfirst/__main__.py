"""The `askfirst` command. SIGTERM during start-up ends it cleanly (exit 0): nothing is in
flight yet, and the run loop installs its own handler that finishes the pass in hand."""

import signal
import sys
from types import FrameType


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_cleanly)
    from askfirst.cli import main as cli_main  # imported after the handler: it takes a moment

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
