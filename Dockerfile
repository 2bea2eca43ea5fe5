# syntax=docker/dockerfile:1
# The dashboard's image: web (gunicorn), worker and beat all run it; docker-compose.yml wires them together.
#
# Not built in this project's CI: the CI machine reaches no image registry, so python:3.11-slim cannot be
# pulled there. `docker-compose config` validates the compose file in the tests instead. Build it where a
# registry is reachable:  docker-compose build   (or: docker build -t dockerbench .)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# WeasyPrint (PDF reports) loads Pango and HarfBuzz at run time, and needs a font.
RUN apt-get update && \
    apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core && \
    rm -rf /var/lib/apt/lists/*

# Requirements first: the layer is rebuilt only when the pins change. psycopg[binary] and cryptography ship
# manylinux wheels, so no compiler is needed.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# collectstatic needs settings that load, not the real secret: a build-time placeholder, never used at run time.
RUN DJANGO_SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput

# An unprivileged user; var/ holds nothing in this mode (PostgreSQL and Redis are their own services).
RUN useradd --system --uid 10001 --no-create-home --home-dir /app dockerbench && \
    mkdir -p /app/var && chown dockerbench /app/var
USER dockerbench

EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
