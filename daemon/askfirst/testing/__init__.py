"""The test layer the tests, the benchmarks and `askfirst demo` share: a private mail rig
(Dovecot, an SMTP bridge into it, an OAuth2 token server) and the demo's story. The daemon
never imports it; it needs the `demo` or `test` extra (aiosmtpd)."""
