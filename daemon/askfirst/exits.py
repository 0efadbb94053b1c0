"""Exit codes of every `askfirst` command, in one place."""

EXIT_OK = 0  # all well
EXIT_UNREACHABLE = 1  # a server could not be reached or refused the login; unhealthy
EXIT_CONFIG = 2  # the configuration or a template is wrong (the message names the key)
EXIT_LOCKED = 3  # another askfirst process runs on this state file; nothing was done
EXIT_NO_SUCH_MAIL = 4  # resend/forget: no uncertain mail with this Message-ID
