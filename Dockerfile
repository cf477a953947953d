# alpr-stream application image: pipeline, camera gateway, console/API, CLI.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY setup.py README.md ./
COPY alpr ./alpr
COPY pipelines ./pipelines
COPY inference ./inference
COPY connectors ./connectors
COPY governance ./governance
COPY infra ./infra
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home alpr && mkdir -p /data /run/alpr-keys /anchors \
    && chown alpr /data /run/alpr-keys /anchors && chmod 700 /run/alpr-keys
USER 10001
ENTRYPOINT ["alpr"]
CMD ["--help"]
