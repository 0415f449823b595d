"""A clean-room implementation of AWS Glue's Python ETL library (``awsglue``: GlueContext,
DynamicFrame, transforms, Job and bookmarks) on plain PySpark, written from AWS's public
documentation. The local Glue API puts it first on the path of every local run; in AWS and in
the aws-glue-libs image AWS's own library is used. What differs, method by method: the README's
awsglue table.

Imports: pyspark, boto3 and the standard library only (nothing of the pipeline)."""
