# Ostiary's container image (docs/deployment.md, "Container").
#
#   docker build -t ostiary .
#   docker run --read-only --tmpfs /tmp -v ostiary-data:/var/lib/ostiary \
#     -e OSTIARY_ISSUER=https://id.example.com -e OSTIARY_SECRET_KEY=... ostiary
#
# The image serves plain HTTP on 8080 for an https issuer: behind a TLS proxy (set
# OSTIARY_TRUSTED_PROXIES to its address), or give it a certificate and serve https itself
# (`serve ... --ssl-certfile ... --ssl-keyfile ...`). An http issuer is refused on 0.0.0.0.
#
# No container runs on the test machines: tests/e2e/test_container_recipe.py runs this
# file's build steps in a clean virtual environment instead and checks the result.

ARG PYTHON_IMAGE=python:3.12-slim

# -- builder: Ostiary and the server's extras in a virtual environment ---------------------
FROM ${PYTHON_IMAGE} AS builder
ARG VENV=/opt/ostiary
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv "$VENV"
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src/ src/
# pip's cache stays in this stage: only the environment reaches the image.
RUN "$VENV/bin/pip" install --quiet ".[server,postgres,redis]"

# -- the image: the environment, a user of its own, one writable directory -----------------
# The same base as the builder's: the environment's python is a link to its interpreter.
FROM ${PYTHON_IMAGE}
ARG VENV=/opt/ostiary
COPY --from=builder ${VENV} ${VENV}
RUN groupadd --system --gid 10001 ostiary \
    && useradd --system --uid 10001 --gid ostiary --home-dir /var/lib/ostiary \
        --shell /usr/sbin/nologin ostiary \
    && install -d -o ostiary -g ostiary -m 0700 /var/lib/ostiary
# Nothing is written outside /var/lib/ostiary (a SQLite database, if used) and /tmp (the
# metrics of --workers): bytecode was compiled at install, so --read-only works.
ENV PATH="${VENV}/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/ostiary \
    OSTIARY_DATABASE_URL=sqlite+aiosqlite:////var/lib/ostiary/ostiary.db
WORKDIR /var/lib/ostiary
VOLUME ["/var/lib/ostiary"]
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["ostiary"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
