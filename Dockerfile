# kpibot: the bot, its scheduler and its HTTP server (webhooks, /healthz, /readyz, /metrics) in one process.
# Build: docker build -t kpibot .   Run beside PostgreSQL: compose.yaml; docs/deploy.md says the rest.

# --- build: the project and its dependencies into a virtual environment -----------------------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md run_bot.py ./
COPY alerts ./alerts
COPY bot ./bot
COPY metrics ./metrics
COPY storage ./storage
RUN python -m venv /opt/kpibot \
 && /opt/kpibot/bin/pip install . \
 && /opt/kpibot/bin/python -c "import bot.reply.i18n, metrics.charts.render"

# --- run: the environment, fonts for the charts' Latin and Cyrillic text, a user without privileges ----------------
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/kpibot kpibot \
 && mkdir -p /data && chown kpibot /data
COPY --from=build /opt/kpibot /opt/kpibot
ENV PATH=/opt/kpibot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    KPIBOT_HTTP_PORT=3000 \
    KPIBOT_LOG_FORMAT=json \
    KPIBOT_LOG_LEVEL=INFO \
    DATABASE_URL=sqlite:////data/kpibot.db
USER kpibot
WORKDIR /data
EXPOSE 3000
# /healthz answers while the process serves; /readyz (for a load balancer) also checks the database and platforms.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('KPIBOT_HTTP_PORT', '3000'), timeout=4)"]
# SIGTERM (docker stop): the answer in flight and the message being sent finish, claimed outbox rows go back.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kpibot"]
CMD ["run"]
