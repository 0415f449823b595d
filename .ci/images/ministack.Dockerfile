# CI only: MiniStack in place of LocalStack (whose image cannot be pulled or built here).
ARG PYTHON_IMAGE=local/python:ci
FROM ${PYTHON_IMAGE}
COPY ministack.txt /tmp/ministack.txt
RUN python -m venv /opt/ministack && /opt/ministack/bin/pip install -q -r /tmp/ministack.txt
ENV PATH=/opt/ministack/bin:${PATH} GATEWAY_PORT=4566 BIND_HOST=0.0.0.0
CMD ["ministack"]
