#!/bin/bash
# LocalStack init hook: the same bootstrap as the native stack (devstack/provision/bootstrap.py), for the
# AWS side: buckets, tables, Glue artifacts, the Lambda and the raw bucket's notification.
set -euo pipefail
export AWS_ENDPOINT_URL=http://localhost:4566 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export AWS_DEFAULT_REGION=us-east-1 PYTHONPATH=/opt/project:/opt/project/glue
cd /opt/project
python -m devstack bootstrap aws --mwaa-endpoint http://mwaa-api:4590
