"""Exit codes of every `askfirst` command, in one place."""

EXIT_OK = 0  # all well
EXIT_UNREACHABLE = 1  # a server could not be reached or refused the login; unhealthy
EXIT_CONFIG = 2  # the configuration or a template is wrong (the message names the key)
