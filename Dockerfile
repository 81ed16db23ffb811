# flask-fanout in a container: the README's Quick start commands, as a non-root user.
#
#   docker build -t flask-fanout .
#   docker run --rm -p 8000:8000 flask-fanout              # embedded defaults
#   docker run --rm -p 8000:8000 -v "$PWD/fanout.toml:/etc/fanout/fanout.toml:ro" \
#       -e FANOUT_CONFIG=/etc/fanout/fanout.toml -e API_TOKEN -e DB_PASSWORD flask-fanout
#
#   docker build --target test -t flask-fanout-test . && docker run --rm flask-fanout-test
#
# TLS is terminated by the reverse proxy in front; set FANOUT_PROXY_HOPS to the
# number of proxies whose X-Forwarded-* headers are to be trusted.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin fanout
WORKDIR /app

# The second Quick start command: the test suite (run the image to run it).
FROM base AS test
COPY --chown=10001:10001 . /app
USER 10001
RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -e '.[dev]'
CMD [".venv/bin/python", "-m", "pytest"]

# The first Quick start command: install the service, then serve it.
FROM base AS service
COPY pyproject.toml README.md /app/
COPY src /app/src
RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir .
USER 10001
ENV FANOUT_DATA_DIR=/home/fanout/data
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/app/.venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["/app/.venv/bin/fanout", "serve", "--host", "0.0.0.0", "--port", "8000"]
