"""askfirst: answer boilerplate connection invitations with a polite question first."""

__version__ = "0.1.0"
