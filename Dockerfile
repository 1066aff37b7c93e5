# One image for every Journeys process: `journeys api` (the default), `journeys worker`,
# `journeys migrate`, `journeys temporal-setup`, `journeys keys create`.

# The build context (only what .dockerignore lets in: the packages, pyproject.toml and
# README.md) becomes a wheel in this stage, which the image does not keep: no layer of the
# image holds the context, whatever it had (`COPY` then `rm` would keep it in a layer). Needs
# BuildKit (Docker's builder since Engine 23, and `docker compose build`'s) for the mount below.
FROM python:3.11.11-slim-bookworm AS wheel
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY . /src
RUN pip wheel --no-deps --wheel-dir /wheel /src

FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheel holds the packages and nothing else; its dependencies come as wheels too. It is
# installed from a read-only mount of the build stage, so no layer keeps a copy of it.
RUN --mount=type=bind,from=wheel,source=/wheel,target=/wheel pip install /wheel/*.whl

# Never root: a fixed uid, so volume permissions can be planned for.
RUN useradd --system --uid 10001 --create-home --home-dir /home/journeys journeys
USER journeys
WORKDIR /home/journeys

# 8000: the API (/healthz, /readyz); 9464: a worker's Prometheus metrics.
EXPOSE 8000 9464
ENTRYPOINT ["journeys"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
