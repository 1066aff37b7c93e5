# One image for every Journeys process: `journeys api` (the default), `journeys worker`,
# `journeys migrate`, `journeys temporal-setup`, `journeys keys create`.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The project's own files only (.dockerignore keeps out tests, venvs and local data).
COPY . /src
RUN pip install /src && rm -rf /src

# Never root: a fixed uid, so volume permissions can be planned for.
RUN useradd --system --uid 10001 --create-home --home-dir /home/journeys journeys
USER journeys
WORKDIR /home/journeys

# 8000: the API (/healthz, /readyz); 9464: a worker's Prometheus metrics.
EXPOSE 8000 9464
ENTRYPOINT ["journeys"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
