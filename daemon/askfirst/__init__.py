"""askfirst: answer boilerplate connection invitations with a polite question first."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("askfirst")  # the one place it is set: pyproject.toml
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
