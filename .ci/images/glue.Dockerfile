# CI only: stands in for public.ecr.aws/glue/aws-glue-libs:5 (Java 17, Spark 3.5.4 at /usr/lib/spark
# with its S3A connector, python3 with boto3, user hadoop).
ARG PYTHON_IMAGE=local/python:ci
FROM ${PYTHON_IMAGE}
RUN apt-get update -q && apt-get install -y -q --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
COPY constraints.txt /tmp/constraints.txt
RUN python -m venv /opt/glue-venv \
 && /opt/glue-venv/bin/pip install -q -c /tmp/constraints.txt pyspark==3.5.4 boto3 \
 && ln -s /opt/glue-venv/lib/python3.11/site-packages/pyspark /usr/lib/spark
COPY jars/ /usr/lib/spark/jars/
RUN useradd --create-home hadoop
ENV PATH=/opt/glue-venv/bin:${PATH} SPARK_HOME=/usr/lib/spark
