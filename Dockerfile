# arbtrio — the service image: slim Python, non-root, `arbtrio run` as the entry point.
#
#   docker build -t arbtrio .
#   docker run --rm \
#     -v "$PWD/config/live.toml:/etc/arbtrio/live.toml:ro" \
#     -v arbtrio-var:/var/lib/arbtrio \
#     -e ARBTRIO_BYBIT_API_KEY -e ARBTRIO_BYBIT_API_SECRET ... \
#     arbtrio --config /etc/arbtrio/live.toml
#
# Secrets come only from the environment (the config names the variables). Point
# service.journal and service.admin_socket into /var/lib/arbtrio (a volume) so the journal
# survives restarts and `docker exec <ctr> arbtrio admin --socket ... status` works.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY arbtrio ./arbtrio
RUN python -m venv /opt/arbtrio \
 && /opt/arbtrio/bin/pip install --upgrade pip \
 && /opt/arbtrio/bin/pip install .

FROM python:3.11-slim
ENV PATH="/opt/arbtrio/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system arbtrio \
 && useradd --system --gid arbtrio --home-dir /var/lib/arbtrio --shell /usr/sbin/nologin arbtrio \
 && mkdir -p /var/lib/arbtrio /etc/arbtrio \
 && chown arbtrio:arbtrio /var/lib/arbtrio
COPY --from=build /opt/arbtrio /opt/arbtrio
COPY config /etc/arbtrio/examples
USER arbtrio
WORKDIR /var/lib/arbtrio
VOLUME ["/var/lib/arbtrio"]
# SIGTERM (docker stop) is a graceful shutdown: stop opening, flatten or leave hedged per
# service.shutdown, drain, journal, exit 0. Give it time: docker stop -t 60.
STOPSIGNAL SIGTERM
ENTRYPOINT ["arbtrio", "run"]
CMD ["--config", "/etc/arbtrio/live.toml"]
