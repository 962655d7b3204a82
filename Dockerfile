# The fallback backend: the same WSGI app `make dev` serves (every function at its production path,
# the site at /) under gunicorn, for a free container host (render.yaml, fly.toml, railway.json).
# It shares Firestore with the Cloud Functions: one queue, one set of limits, one set of users.
# README "Deploy", step 10. tests/integration/test_container.py runs this file's CMD.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
# Exactly the pinned set the functions deploy with: every file checked against its sha256, wheels only.
COPY requirements.txt ./
RUN pip install --require-hashes --only-binary :all: -r requirements.txt

COPY main.py ./
COPY functions/ functions/
COPY shared/ shared/
COPY site/ site/

RUN useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin gateway \
    && mkdir -p /app/.data \
    && chown gateway /app/.data
USER 10001:10001

# Production defaults; the host adds the deployment's settings and its secrets (README "Deploy").
# DISPATCHER=inprocess: this container runs jobs itself, claiming from the shared Firestore queue.
ENV ENVIRONMENT=production \
    STORE=firestore \
    DISPATCHER=inprocess \
    MEDIA_BACKEND=s3 \
    TRUSTED_PROXY_HOPS=1 \
    LOCAL_PROVIDER_ENABLED=false \
    DATA_DIR=/app/.data \
    PORT=8080
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('PORT', '8080'), timeout=4)"]

CMD ["gunicorn", "--config", "python:shared.gunicorn_conf", "shared.wsgi:app"]
