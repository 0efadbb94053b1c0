# askfirst, unattended: one TOML file in, state on a volume.
#
#   docker build -t askfirst .
#   docker run -d --name askfirst --read-only --tmpfs /tmp \
#     -v "$PWD/config.toml:/config/config.toml:ro" -v askfirst-data:/data askfirst
#
# Another base (for instance one built locally without a registry, see docs/container.md):
#   podman build --format docker --build-arg BASE=localhost/py-base:bookworm -t askfirst .
# Both stages must use the same base: the venv's python is a link to the base's python3.

ARG BASE=python:3.11-slim

# ---- build: a venv with askfirst and its dependencies, nothing else ----------------------
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY daemon/ daemon/
COPY templates/ templates/
# - a non-editable install, with the dependencies' byte code compiled now, because the
#   final root filesystem is meant to be read-only; the wheel carries the built-in
#   templates (daemon/askfirst/templates links to templates/);
# - pip and setuptools leave the venv: the final image installs nothing at run time.
RUN python3 -m venv /opt/askfirst \
 && /opt/askfirst/bin/pip install . \
 && /opt/askfirst/bin/pip uninstall -y pip setuptools \
 && /opt/askfirst/bin/askfirst --version

# ---- final: the base, the venv, the templates, a user -------------------------------------
FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="askfirst" \
      org.opencontainers.image.description="Answers boilerplate connection invitations with a polite 'tell me about yourself', hands real answers to you, declines the silent ones." \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"

ENV PATH=/opt/askfirst/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8 \
    ASKFIRST_STATE__PATH=/data/askfirst.sqlite3 \
    ASKFIRST_TEMPLATES__DIR=/app/templates \
    ASKFIRST_LIMITS__KILL_FILE=/data/STOP

RUN groupadd --gid 10001 askfirst \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data \
      --shell /usr/sbin/nologin askfirst \
 && mkdir -p /config /data \
 && chown 10001:10001 /data \
 && chmod 0700 /data

COPY --from=build /opt/askfirst /opt/askfirst
COPY templates/ /app/templates/

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]

# Python is PID 1 (exec form, no shell) and askfirst handles SIGTERM: it finishes the
# message in hand, closes IMAP and the state DB, logs "askfirst.stopped" and exits 0.
STOPSIGNAL SIGTERM
# Exit 0 when the loop completed a pass recently and IMAP is connected. Docker runs it;
# podman without systemd does not (run it with `podman exec`, see docs/container.md).
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
  CMD ["askfirst", "health", "--config", "/config/config.toml"]

ENTRYPOINT ["askfirst"]
CMD ["run", "--config", "/config/config.toml"]
