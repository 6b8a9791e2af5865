# berth itself, as a container for Marathon (or anything that runs containers).
#   docker build -t registry.example.com/berth:$(git rev-parse --short HEAD) .
#   flask --app app self-definition --image registry.example.com/berth:… > berth.json
# The start script (scripts/container-start) binds gunicorn to $PORT0 (Marathon), else
# $PORT, else 8000, and migrates first only when BERTH_MIGRATE_ON_START=on; otherwise run
# the one-off `docker run --rm -e BERTH_DATABASE_URL=… IMAGE flask --app app migrate`
# before a release (README: "berth on its own cluster").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BERTH_LOG_FORMAT=json \
    FLASK_APP=app

WORKDIR /srv/berth
# the pinned dependencies first: a change of berth's code keeps this layer
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# non-root; var/ is the only place berth writes (and only without BERTH_SECRET_KEY)
RUN useradd --system --uid 10001 --home-dir /srv/berth --shell /usr/sbin/nologin berth \
    && mkdir -p var \
    && chown berth var
USER 10001

EXPOSE 8000
CMD ["scripts/container-start"]
