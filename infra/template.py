"""Builds infra/template.json, the CloudFormation template of the pipeline in AWS, from the one
configuration (glue/music_streaming/config.py) that the local stacks use too: bucket, table, job and
function names, Glue job definitions and the Lambda environment cannot drift apart.

    python infra/template.py            # rewrites infra/template.json
    python infra/template.py --check    # fails if infra/template.json is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "glue")]

from music_streaming import catalog, config, layout  # noqa: E402

TEMPLATE = Path(__file__).with_name("template.json")
SETTINGS = config.settings()
# The artifacts bucket (scripts_bucket: Glue scripts, Lambda zip, MWAA DAGs) holds what the stack
# is made from, so scripts/deploy.sh creates it before the stack (versioned, private, encrypted).
BUCKETS = {
    "RawBucket": "raw_data_bucket",
    "ProcessedBucket": "processed_bucket",
    "QuarantineBucket": "quarantine_bucket",
    "ArchiveBucket": "archive_bucket",
}
KPI_TABLE = str(SETTINGS["dynamodb_table_name"])
TRACKER_TABLE = config.file_tracker_table(KPI_TABLE)
ENV = config.MWAA_ENVIRONMENT_NAME
MWAA_DAGS, MWAA_REQUIREMENTS = "dags", "requirements.txt"


def sub(text: str) -> dict:
    return {"Fn::Sub": text}


def bucket_arn(setting: str, objects: bool = False) -> str:
    return f"arn:${{AWS::Partition}}:s3:::{SETTINGS[setting]}" + ("/*" if objects else "")


ACCESS_LOGS_BUCKET = {"Fn::Sub": f"{config.PROJECT}-access-logs-${{AWS::AccountId}}"}


# Every bucket: encrypted, never public, owned by the account (no ACLs).
PRIVATE_BUCKET = {
    "BucketEncryption": {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    },
    "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    },
    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
}


def checkov_skips(*reasons: tuple[str, str]) -> dict:
    """Resource Metadata that suppresses checkov checks, each with the reason in place."""
    return {"checkov": {"skip": [{"id": check, "comment": why} for check, why in reasons]}}


def bucket(logical: str, setting: str) -> dict:
    properties: dict = {
        "BucketName": SETTINGS[setting],
        # Every bucket is versioned: raw (the ledger tracks versions), archive (write-once: an
        # overwrite could not destroy a copy), quarantine (evidence), processed (a rerun's
        # outputs replace the old ones; the old ones expire below).
        "VersioningConfiguration": {"Status": "Enabled"},
        "LoggingConfiguration": {
            "DestinationBucketName": ACCESS_LOGS_BUCKET,
            "LogFilePrefix": f"{SETTINGS[setting]}/",
        },
        **PRIVATE_BUCKET,
    }
    if logical == "ArchiveBucket":
        properties["LifecycleConfiguration"] = {
            "Rules": [
                {
                    # only copies of ARCHIVED files: one the ETL may still read stays readable
                    "Id": "to-archive-storage",
                    "Status": "Enabled",
                    "TagFilters": [
                        {"Key": config.ARCHIVED_TAG[0], "Value": config.ARCHIVED_TAG[1]}
                    ],
                    "Transitions": [
                        {"StorageClass": "GLACIER", "TransitionInDays": 30},
                        {"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": 180},
                    ],
                    # a verified copy stays the version read even when its key is written over
                    "NoncurrentVersionTransitions": [
                        {"StorageClass": "GLACIER", "TransitionInDays": 30},
                        {"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": 180},
                    ],
                }
            ]
        }
    if logical == "QuarantineBucket":
        properties["LifecycleConfiguration"] = {
            "Rules": [
                {
                    "Id": "to-archive-storage",
                    "Status": "Enabled",
                    "Transitions": [{"StorageClass": "GLACIER", "TransitionInDays": 90}],
                }
            ]
        }
    if logical == "ProcessedBucket":
        properties["LifecycleConfiguration"] = {
            "Rules": [
                {
                    "Id": "replaced-outputs-expire",
                    "Status": "Enabled",
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                }
            ]
        }
    if logical == "RawBucket":
        # Every upload reaches the Lambda (S3's suffix filter is case-sensitive; filtered keys
        # would go unreported).
        properties["NotificationConfiguration"] = {
            "LambdaConfigurations": [
                {
                    "Event": "s3:ObjectCreated:*",
                    "Function": {"Fn::GetAtt": ["TriggerDagFunction", "Arn"]},
                }
            ]
        }
    resource = {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }
    if logical == "RawBucket":
        resource["DependsOn"] = "TriggerDagPermission"
    return resource


def deny_insecure_transport(bucket_name) -> dict:
    """A statement refusing any request to the bucket that does not use TLS."""
    names = {"Bucket": bucket_name}
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [
            {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}", names]},
            {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}/*", names]},
        ],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(logical: str, *statements: dict) -> dict:
    """TLS only, plus ``statements``."""
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": logical},
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [deny_insecure_transport({"Ref": logical}), *statements],
            },
        },
    }


def access_logs_bucket() -> dict:
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Metadata": checkov_skips(
            ("CKV_AWS_18", "the access-log bucket does not log its own access (a loop)")
        ),
        "Properties": {
            "BucketName": ACCESS_LOGS_BUCKET,
            "VersioningConfiguration": {"Status": "Enabled"},
            **PRIVATE_BUCKET,
            "LifecycleConfiguration": {
                "Rules": [
                    {"Id": "expire-access-logs", "Status": "Enabled", "ExpirationInDays": 365}
                ]
            },
        },
    }


def access_logs_delivery() -> dict:
    """S3's log delivery may write the pipeline buckets' access logs, nothing else."""
    return {
        "Sid": "S3ServerAccessLogs",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": {
            "Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}/*", {"Bucket": ACCESS_LOGS_BUCKET}]
        },
        "Condition": {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            "ArnLike": {"aws:SourceArn": [sub(bucket_arn(s)) for s in BUCKETS.values()]},
        },
    }


def table(definition: dict) -> dict:
    properties = dict(definition)
    properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    properties["SSESpecification"] = {"SSEEnabled": True}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Metadata": checkov_skips(
            (
                "CKV_AWS_119",
                "encrypted at rest with an AWS-managed key (SSEEnabled); the items are KPIs and "
                "file states, with no requirement for a customer-managed key and its key policy",
            )
        ),
        "Properties": properties,
    }


def glue_job(key: str) -> dict:
    definition = config.glue_job_definition(key, SETTINGS, "ROLE")
    definition["Role"] = {"Fn::GetAtt": ["GlueJobRole", "Arn"]}
    definition["SecurityConfiguration"] = {"Ref": "GlueSecurityConfiguration"}
    return {"Type": "AWS::Glue::Job", "Properties": definition}


def glue_security_configuration() -> dict:
    """What Glue writes to S3 is encrypted (SSE-S3, as the buckets' default)."""
    return {
        "Type": "AWS::Glue::SecurityConfiguration",
        "Metadata": checkov_skips(
            (
                "CKV_AWS_99",
                "S3 output is encrypted; encrypting CloudWatch logs and bookmarks needs a "
                "customer-managed KMS key: the logs hold counts and file names, and the jobs use "
                "no bookmarks",
            )
        ),
        "Properties": {
            "Name": f"{config.PROJECT}-glue",
            "EncryptionConfiguration": {
                "S3Encryptions": [{"S3EncryptionMode": "SSE-S3"}],
                "CloudWatchEncryption": {"CloudWatchEncryptionMode": "DISABLED"},
                "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "DISABLED"},
            },
        },
    }


def policy(name: str, statements: list[dict]) -> dict:
    return {
        "PolicyName": name,
        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
    }


def write_logs(log_groups: str) -> dict:
    """A role's own log output: create and write the log groups matching ``log_groups``."""
    return {
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": sub(
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
            f"log-group:{log_groups}"
        ),
    }


def assume(service: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def table_arns() -> list:
    base = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"
    return [
        sub(base + KPI_TABLE),
        sub(base + KPI_TABLE + "/index/*"),
        sub(base + TRACKER_TABLE),
        sub(base + TRACKER_TABLE + "/index/*"),
    ]


def ledger_arns() -> list:
    base = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"
    return [sub(base + TRACKER_TABLE), sub(base + TRACKER_TABLE + "/index/*")]


# Adding a copy and verifying the version written by its checksum (a copy over 5 GB is read back).
COPY_ACTIONS = ["s3:PutObject", "s3:GetObjectVersionAttributes", "s3:GetObjectVersion"]
ARCHIVE_ACTIONS = COPY_ACTIONS + [
    "s3:GetObject",  # HeadObject: an earlier attempt's copy is verified, not copied again
    "s3:PutObjectVersionTagging",  # the ARCHIVED tag: only then may the copy move to cold storage
]
# What Spark's writes replace in the processed bucket (dynamic partition overwrite, event logs)
SPARK_REWRITTEN_PREFIXES = (
    layout.PROCESSED_DATA_PREFIX,
    layout.REFERENCE_PREFIX,
    config.SPARK_EVENT_LOGS_PREFIX,
)
LEDGER_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    # what decides KPIs and recovery reads the table itself (consistent), not its index
    "dynamodb:Scan",
]


def iam_check_excuses(*grants: tuple[str, str, str]) -> dict:
    """A role's grants ``scripts/iam-check`` may find unused in the local runs, each with why:
    AWS's services use them, or a path the runs do not take (action, resource glob, reason)."""
    return {
        "iam-check": {
            "unused": [{"action": a, "resource": r, "reason": why} for a, r, why in grants]
        }
    }


def glue_role() -> dict:
    return {
        "Type": "AWS::IAM::Role",
        "Metadata": iam_check_excuses(
            (
                "s3:GetBucketLocation",
                "*",
                "Glue's S3 connector asks a bucket's region; S3A does not",
            ),
            ("glue:BatchCreatePartition", "*:catalog", "AWS checks the catalog, MiniStack not"),
            ("glue:BatchCreatePartition", "*:table/*", "AWS checks the table, MiniStack not"),
            ("logs:CreateLogGroup", "*:log-group:/aws-glue/*", "Glue creates a group once"),
            (
                "s3:GetObjectVersion",
                f"*:::{SETTINGS['quarantine_bucket']}/*",
                "only a quarantined copy over 5 GB is read back to hash it",
            ),
            (
                "s3:ListBucket",
                f"*:::{SETTINGS['raw_data_bucket']}",
                "only a raw version deleted before validation is read as missing (404 with it, "
                "403 without)",
            ),
        ),
        "Properties": {
            "AssumeRolePolicyDocument": assume("glue.amazonaws.com"),
            "Policies": [
                policy(
                    "music-streaming-glue",
                    [
                        # Listing what Spark reads and writes, and a 404 (not a 403) for an
                        # archive copy not yet written; the raw and archive buckets' versioning
                        # is checked before any version is taken or copied (GetBucketLocation:
                        # see Metadata).
                        {
                            "Effect": "Allow",
                            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                            "Resource": [
                                sub(bucket_arn(s)) for s in ("processed_bucket", "archive_bucket")
                            ],
                        },
                        # A raw version deleted before validation reads as 404 (reported as
                        # gone), not 403 (a failed run), only with ListBucket on the bucket.
                        {
                            "Effect": "Allow",
                            "Action": "s3:ListBucket",
                            "Resource": sub(bucket_arn("raw_data_bucket")),
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetBucketVersioning"],
                            "Resource": [
                                sub(bucket_arn(s)) for s in ("raw_data_bucket", "archive_bucket")
                            ],
                        },
                        # Raw: exact versions read, and deleted once archived or quarantined.
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObjectVersion", "s3:DeleteObjectVersion"],
                            "Resource": [sub(bucket_arn("raw_data_bucket", True))],
                        },
                        # Quarantine: copies added and verified, never deleted.
                        {
                            "Effect": "Allow",
                            "Action": COPY_ACTIONS,
                            "Resource": [sub(bucket_arn("quarantine_bucket", True))],
                        },
                        # Processed: reports, KPI snapshots and Parquet written; only what Spark
                        # rewrites (Parquet, reference data, its event logs) may be deleted, never
                        # the kpis/*.json snapshots rebuild-kpis restores the table from.
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:PutObject"],
                            "Resource": [sub(bucket_arn("processed_bucket", True))],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:DeleteObject"],
                            "Resource": [
                                sub(bucket_arn("processed_bucket") + f"/{prefix}*")
                                for prefix in SPARK_REWRITTEN_PREFIXES
                            ],
                        },
                        # The archive is write-once for the pipeline: copies are added (a retry
                        # finds its copy and verifies it), never deleted, and read by the version
                        # verified, so a write over a key only adds a version nothing reads.
                        {
                            "Effect": "Allow",
                            "Action": ARCHIVE_ACTIONS,
                            "Resource": [sub(bucket_arn("archive_bucket", True))],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject"],
                            "Resource": [sub(bucket_arn("scripts_bucket", True))],
                        },
                        # The ledger: a job reads its files' items (by key, or all of them,
                        # consistently) and moves them on; it never adds or deletes one.
                        {
                            "Effect": "Allow",
                            "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Scan"],
                            "Resource": [ledger_arns()[0]],
                        },
                        # The KPI table: one transaction per snapshot puts, updates and deletes
                        # (a retracted genre-day) items, conditioned on the snapshot it replaces.
                        {
                            "Effect": "Allow",
                            "Action": [
                                "dynamodb:PutItem",
                                "dynamodb:UpdateItem",
                                "dynamodb:DeleteItem",
                                "dynamodb:ConditionCheckItem",
                            ],
                            "Resource": [table_arns()[0]],
                        },
                        # the KPIs a snapshot replaces, found by day on the table's index
                        {
                            "Effect": "Allow",
                            "Action": ["dynamodb:Query"],
                            "Resource": [table_arns()[1]],
                        },
                        {
                            "Effect": "Allow",
                            "Action": "cloudwatch:PutMetricData",
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {
                                    "cloudwatch:namespace": [
                                        "DataValidation/Metrics",
                                        "ETL/Metrics",
                                    ]
                                }
                            },
                        },
                        write_logs("/aws-glue/*"),
                        # the ETL job registers the partitions it writes, in the one database
                        {
                            "Effect": "Allow",
                            "Action": ["glue:BatchCreatePartition"],
                            "Resource": catalog_arns(),
                        },
                    ],
                )
            ],
        },
    }


def catalog_arns() -> list[dict]:
    prefix = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:"
    return [
        sub(prefix + "catalog"),
        sub(f"{prefix}database/{catalog.DATABASE}"),
        sub(f"{prefix}table/{catalog.DATABASE}/*"),
    ]


def catalog_resources() -> dict:
    """The Data Catalog database and tables (catalog.py, as the local bootstrap creates them) and
    the Athena workgroup ``scripts/query --aws`` runs in (results encrypted, its settings
    enforced)."""
    resources: dict = {
        "CatalogDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseInput": catalog.database_input(),
            },
        }
    }
    for table in catalog.TABLES:
        resources[f"{table.title()}Table"] = {
            "Type": "AWS::Glue::Table",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseName": {"Ref": "CatalogDatabase"},
                "TableInput": catalog.table_input(table, str(SETTINGS["processed_bucket"])),
            },
        }
    resources["AthenaWorkGroup"] = {
        "Type": "AWS::Athena::WorkGroup",
        "Properties": {
            "Name": config.ATHENA_WORKGROUP,
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "PublishCloudWatchMetricsEnabled": True,
                "ResultConfiguration": {
                    "OutputLocation": f"s3://{SETTINGS['processed_bucket']}/"
                    f"{config.ATHENA_RESULTS_PREFIX}",
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                },
            },
        },
    }
    return resources


def lambda_role() -> dict:
    return {
        "Type": "AWS::IAM::Role",
        "Metadata": iam_check_excuses(
            ("logs:*", "*:log-group:/aws/lambda/*", "Lambda writes the function's logs"),
            ("sqs:SendMessage", "*-dlq", "Lambda sends a failed event to the dead-letter queue"),
            (
                "dynamodb:DeleteItem",
                "*:table/*_file_tracker",
                "only when starting the DAG fails: the run-request flag is dropped",
            ),
        ),
        "Properties": {
            "AssumeRolePolicyDocument": assume("lambda.amazonaws.com"),
            "Policies": [
                policy(
                    "music-streaming-trigger",
                    [
                        {
                            "Effect": "Allow",
                            "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"],
                            "Resource": [
                                sub(
                                    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:"
                                    f"table/{TRACKER_TABLE}"
                                )
                            ],
                        },
                        {
                            "Effect": "Allow",
                            "Action": "cloudwatch:PutMetricData",
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {"cloudwatch:namespace": "Pipeline/Ledger"}
                            },
                        },
                        # Only the CLI trigger needs a CLI token (it can run any allowed command).
                        {
                            "Fn::If": [
                                "TriggerByCli",
                                {
                                    "Effect": "Allow",
                                    "Action": "airflow:CreateCliToken",
                                    "Resource": sub(
                                        f"arn:${{AWS::Partition}}:airflow:${{AWS::Region}}:"
                                        f"${{AWS::AccountId}}:environment/{ENV}"
                                    ),
                                },
                                {"Ref": "AWS::NoValue"},
                            ]
                        },
                        {
                            "Effect": "Allow",
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]},
                        },
                        # InvokeRestApi is authorised per Airflow role of the environment; User may trigger.
                        {
                            "Effect": "Allow",
                            "Action": "airflow:InvokeRestApi",
                            "Resource": sub(
                                f"arn:${{AWS::Partition}}:airflow:${{AWS::Region}}:"
                                f"${{AWS::AccountId}}:role/{ENV}/User"
                            ),
                        },
                        write_logs(f"/aws/lambda/{config.LAMBDA_FUNCTION_NAME}:*"),
                    ],
                )
            ],
        },
    }


MWAA_WRITTEN_PREFIXES = (
    config.STATE_KEY.split("/")[0] + "/",
    layout.files_manifest_key("x").split("/")[0] + "/",
)


def mwaa_role() -> dict:
    glue_jobs = [
        sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:job/" + str(spec["name"]))
        for spec in config.GLUE_JOBS.values()
    ]
    return {
        "Type": "AWS::IAM::Role",
        "Condition": "CreateMwaa",
        "Metadata": iam_check_excuses(
            ("airflow:PublishMetrics", "*", "MWAA publishes the environment's metrics"),
            ("s3:GetBucket*", "*", "MWAA reads its source bucket's settings"),
            ("s3:ListBucket*", "*glue-assets", "MWAA lists its source bucket"),
            ("s3:GetObject*", "*/dags/*", "MWAA reads the DAGs it runs"),
            ("s3:GetObject*", "*/requirements.txt", "MWAA installs the requirements"),
            ("s3:DeleteObject", "*/scripts/*", "cleanup_s3_scripts, only once a job drops one"),
            ("s3:PutObject", "*/manifests/*", "only a batch over Glue's argument limit"),
            ("glue:BatchStopJobRun", "*", "only when a running task is killed"),
            ("logs:*", "*:log-group:airflow-*", "MWAA writes and reads its own logs"),
            ("sqs:*", "*:airflow-celery-*", "MWAA's Celery queues"),
            ("kms:*", "*", "MWAA's Celery queues' encryption, through SQS"),
        ),
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {
                            "Service": ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
                        },
                    }
                ],
            },
            "Policies": [
                policy(
                    "music-streaming-mwaa",
                    [
                        {
                            "Effect": "Allow",
                            "Action": "airflow:PublishMetrics",
                            "Resource": sub(
                                f"arn:${{AWS::Partition}}:airflow:${{AWS::Region}}:"
                                f"${{AWS::AccountId}}:environment/{ENV}"
                            ),
                        },
                        # MWAA reads its source bucket's settings; the tasks list the data buckets
                        # (their existence, the raw bucket's versions) and the scripts
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetBucket*", "s3:ListBucket*"],
                            "Resource": [sub(bucket_arn("scripts_bucket"))],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:ListBucket"],
                            "Resource": [sub(bucket_arn(s)) for s in BUCKETS.values()],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:ListBucketVersions"],
                            "Resource": [sub(bucket_arn("raw_data_bucket"))],
                        },
                        # The tasks read the jobs' reports and summaries, never the data files.
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject"],
                            "Resource": [sub(bucket_arn("processed_bucket", True))],
                        },
                        # What MWAA runs (DAGs, requirements) it may read, never write: a writable
                        # DAG folder would let any task change the code the environment runs.
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                            "Resource": [
                                sub(bucket_arn("scripts_bucket") + f"/{MWAA_DAGS}/*"),
                                sub(bucket_arn("scripts_bucket") + f"/{MWAA_REQUIREMENTS}"),
                            ],
                        },
                        # Glue scripts: checked (verify_glue_scripts) and stale ones removed
                        # (cleanup_s3_scripts), never written: Glue's role is broader, so a
                        # writable script would hand it to any DAG task.
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:DeleteObject"],
                            "Resource": [
                                sub(bucket_arn("scripts_bucket") + f"/{config.SCRIPTS_PREFIX}*")
                            ],
                        },
                        # The tasks write the daily state file and each batch's claimed-files
                        # manifest, nothing else, and delete nothing there.
                        {
                            "Effect": "Allow",
                            "Action": ["s3:PutObject"],
                            "Resource": [
                                sub(bucket_arn("processed_bucket") + f"/{prefix}*")
                                for prefix in MWAA_WRITTEN_PREFIXES
                            ],
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                "glue:GetJob",
                                "glue:StartJobRun",
                                "glue:GetJobRun",
                                "glue:BatchStopJobRun",  # a killed task stops its run
                            ],
                            "Resource": glue_jobs,
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["dynamodb:DescribeTable"],
                            "Resource": [table_arns()[0], ledger_arns()[0]],
                        },
                        # the ledger's items by key or all of them; its listen-date index queried
                        {
                            "Effect": "Allow",
                            "Action": [a for a in LEDGER_ACTIONS if a != "dynamodb:Query"],
                            "Resource": [ledger_arns()[0]],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["dynamodb:Query"],
                            "Resource": [ledger_arns()[1]],
                        },
                        # MWAA's own log groups (written and read by the service)
                        {
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogStream",
                                "logs:CreateLogGroup",
                                "logs:PutLogEvents",
                                "logs:GetLogEvents",
                                "logs:GetLogRecord",
                                "logs:GetLogGroupFields",
                                "logs:GetQueryResults",
                                "logs:FilterLogEvents",
                                "logs:DescribeLogGroups",
                            ],
                            "Resource": [
                                sub(
                                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
                                    f"log-group:airflow-{ENV}-*"
                                )
                            ],
                        },
                        # the Glue operators show their runs' logs in the task's log
                        {
                            "Effect": "Allow",
                            "Action": ["logs:FilterLogEvents"],
                            "Resource": [
                                sub(
                                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
                                    "log-group:/aws-glue/*"
                                )
                            ],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["cloudwatch:PutMetricData", "sts:GetCallerIdentity"],
                            "Resource": "*",
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                "sqs:ChangeMessageVisibility",
                                "sqs:DeleteMessage",
                                "sqs:GetQueueAttributes",
                                "sqs:GetQueueUrl",
                                "sqs:ReceiveMessage",
                                "sqs:SendMessage",
                            ],
                            "Resource": sub(
                                "arn:${AWS::Partition}:sqs:${AWS::Region}:*:airflow-celery-*"
                            ),
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                "kms:Decrypt",
                                "kms:DescribeKey",
                                "kms:GenerateDataKey*",
                                "kms:Encrypt",
                            ],
                            "NotResource": sub(
                                "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"
                            ),
                            "Condition": {
                                "StringLike": {
                                    "kms:ViaService": [sub("sqs.${AWS::Region}.amazonaws.com")]
                                }
                            },
                        },
                    ],
                )
            ],
        },
    }


def lambda_environment() -> dict:
    """The local stack's Lambda environment, with the trigger method a parameter."""
    return {**config.lambda_environment(SETTINGS), "TRIGGER_METHOD": {"Ref": "TriggerMethod"}}


def alarm(
    name: str,
    namespace: str,
    metric: str,
    comparison: str,
    threshold: float,
    statistic: str,
    dimensions: dict | None = None,
) -> dict:
    properties = {
        "AlarmName": name,
        "Namespace": namespace,
        "MetricName": metric,
        "ComparisonOperator": comparison,
        "Threshold": threshold,
        "Statistic": statistic,
        "Period": 300,
        "EvaluationPeriods": 1,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "AlarmTopic"}],
    }
    if dimensions:
        properties["Dimensions"] = [{"Name": k, "Value": v} for k, v in dimensions.items()]
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def build() -> dict:
    resources: dict = {logical: bucket(logical, setting) for logical, setting in BUCKETS.items()}
    resources["AccessLogsBucket"] = access_logs_bucket()
    resources["AccessLogsBucketPolicy"] = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "AccessLogsBucket"},
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    deny_insecure_transport({"Ref": "AccessLogsBucket"}),
                    access_logs_delivery(),
                ],
            },
        },
    }
    for logical in BUCKETS:
        resources[f"{logical}Policy"] = bucket_policy(logical)
    # Belt and braces for write-once: even a broader policy added to the Glue role later cannot
    # delete an archived copy or its versions, nor suspend the versioning that keeps a verified
    # version when its key is written over, nor expire copies early.
    resources["ArchiveBucketPolicy"] = bucket_policy(
        "ArchiveBucket",
        {
            "Sid": "ArchiveIsWriteOnceForThePipeline",
            "Effect": "Deny",
            "Principal": {"AWS": {"Fn::GetAtt": ["GlueJobRole", "Arn"]}},
            "Action": [
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:PutBucketVersioning",
                "s3:PutLifecycleConfiguration",
            ],
            "Resource": [
                sub(bucket_arn("archive_bucket")),
                sub(bucket_arn("archive_bucket", True)),
            ],
        },
    )
    resources["GlueSecurityConfiguration"] = glue_security_configuration()
    resources["KpiTable"] = table(config.kpi_table_definition(KPI_TABLE))
    resources["FileTrackerTable"] = table(config.file_tracker_table_definition(KPI_TABLE))
    resources["GlueJobRole"] = glue_role()
    resources["ValidationJob"] = glue_job("validation")
    resources["EtlJob"] = glue_job("etl")
    resources.update(catalog_resources())
    resources["TriggerDagRole"] = lambda_role()
    resources["TriggerDagFunction"] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": config.LAMBDA_FUNCTION_NAME,
            "Runtime": config.LAMBDA_RUNTIME,
            "Handler": config.LAMBDA_HANDLER,
            "Timeout": config.LAMBDA_TIMEOUT_SECONDS,
            "Role": {"Fn::GetAtt": ["TriggerDagRole", "Arn"]},
            "Code": {"S3Bucket": SETTINGS["scripts_bucket"], "S3Key": {"Ref": "LambdaCodeKey"}},
            "Environment": {"Variables": lambda_environment()},
            # A burst of uploads queues at S3's asynchronous retries instead of flooding the
            # MWAA API; an event that still fails lands in the dead-letter queue (alarmed).
            "ReservedConcurrentExecutions": 10,
            "DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]}},
        },
        "Metadata": checkov_skips(
            (
                "CKV_AWS_117",
                "calls only AWS APIs (DynamoDB, MWAA InvokeRestApi, CloudWatch); a VPC would need "
                "NAT or endpoints and isolate nothing",
            ),
            (
                "CKV_AWS_173",
                "its environment holds names (environment, DAG, table), no secrets",
            ),
        ),
    }
    resources["TriggerDeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Metadata": checkov_skips(
            ("CKV_AWS_27", "encrypted at rest by SQS-managed SSE; checkov only sees KMS keys")
        ),
        "Properties": {
            "QueueName": f"{config.LAMBDA_FUNCTION_NAME}-dlq",
            "SqsManagedSseEnabled": True,
            "MessageRetentionPeriod": 1209600,
        },
    }
    resources["TriggerDeadLettersAlarm"] = alarm(
        f"{config.PROJECT}-trigger-dead-letters",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "GreaterThanThreshold",
        0,
        "Maximum",
        {"QueueName": {"Fn::GetAtt": ["TriggerDeadLetterQueue", "QueueName"]}},
    )
    resources["TriggerDagPermission"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com",
            "FunctionName": {"Ref": "TriggerDagFunction"},
            "SourceAccount": {"Ref": "AWS::AccountId"},
            "SourceArn": sub(bucket_arn("raw_data_bucket")),
        },
    }
    resources["MwaaExecutionRole"] = mwaa_role()
    resources["MwaaEnvironment"] = {
        "Type": "AWS::MWAA::Environment",
        "Condition": "CreateMwaa",
        "Properties": {
            "Name": ENV,
            "AirflowVersion": {"Ref": "AirflowVersion"},
            "EnvironmentClass": "mw1.small",
            "MaxWorkers": 2,
            "SourceBucketArn": sub(bucket_arn("scripts_bucket")),
            "DagS3Path": MWAA_DAGS,
            "RequirementsS3Path": MWAA_REQUIREMENTS,
            "ExecutionRoleArn": {"Fn::GetAtt": ["MwaaExecutionRole", "Arn"]},
            "WebserverAccessMode": "PRIVATE_ONLY",
            "NetworkConfiguration": {
                "SubnetIds": {"Ref": "MwaaSubnetIds"},
                "SecurityGroupIds": {"Ref": "MwaaSecurityGroupIds"},
            },
            "AirflowConfigurationOptions": {"core.dags_are_paused_at_creation": "False"},
            "LoggingConfiguration": {
                "TaskLogs": {"Enabled": True, "LogLevel": "INFO"},
                "SchedulerLogs": {"Enabled": True, "LogLevel": "WARNING"},
            },
        },
    }
    resources["AlarmTopic"] = {
        "Type": "AWS::SNS::Topic",
        "Properties": {"TopicName": f"{config.PROJECT}-alarms"},
        "Metadata": checkov_skips(
            (
                "CKV_AWS_26",
                "alarm notices carry no data, and CloudWatch cannot publish to a topic encrypted "
                "with the AWS-managed SNS key; a customer-managed key only for this is not worth it",
            )
        ),
    }
    resources["AlarmEmailSubscription"] = {
        "Type": "AWS::SNS::Subscription",
        "Condition": "HasAlarmEmail",
        "Properties": {
            "TopicArn": {"Ref": "AlarmTopic"},
            "Protocol": "email",
            "Endpoint": {"Ref": "AlarmEmail"},
        },
    }
    resources["ValidationFailedAlarm"] = alarm(
        f"{config.PROJECT}-validation-failed",
        "DataValidation/Metrics",
        "ValidationSuccess",
        "LessThanThreshold",
        1,
        "Minimum",
    )
    resources["FilesFailedAlarm"] = alarm(
        f"{config.PROJECT}-files-failed",
        config.RECOVERY_METRICS_NAMESPACE,
        "FailedFiles",
        "GreaterThanThreshold",
        0,
        "Sum",
    )
    for task in ("full_etl", "dynamodb_only", "archiving_only"):
        logical = "JobFailures" + "".join(p.title() for p in task.split("_")) + "Alarm"
        resources[logical] = alarm(
            f"{config.PROJECT}-job-failures-{task}",
            "ETL/Metrics",
            "JobFailures",
            "GreaterThanThreshold",
            0,
            "Sum",
            {"TaskType": task},
        )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        # W1030: the empty defaults of the MWAA network and e-mail parameters are used only when
        # their conditions leave the resources out.
        "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["W1030"]}}},
        "Description": "Music-streaming pipeline: buckets, tables, Glue jobs, trigger Lambda, "
        "optional MWAA, alarms. Generated by infra/template.py from "
        "glue/music_streaming/config.py; do not edit by hand.",
        "Parameters": {
            "LambdaCodeKey": {
                "Type": "String",
                "Description": "Key of the Lambda zip in the artifacts bucket "
                "(scripts/deploy.sh uploads it, named by hash)",
            },
            "CreateMwaaEnvironment": {
                "Type": "String",
                "AllowedValues": ["true", "false"],
                "Default": "false",
            },
            "AirflowVersion": {"Type": "String", "Default": "3.3.1"},
            "MwaaSubnetIds": {
                "Type": "CommaDelimitedList",
                "Default": "",
                "Description": "Two private subnets (with CreateMwaaEnvironment)",
            },
            "MwaaSecurityGroupIds": {"Type": "CommaDelimitedList", "Default": ""},
            "AlarmEmail": {"Type": "String", "Default": ""},
            "TriggerMethod": {
                "Type": "String",
                "AllowedValues": list(config.TRIGGER_METHODS),
                "Default": "rest_api",
                "Description": "How the Lambda starts a DAG run: InvokeRestApi, or the original "
                "design's CLI token (then, and only then, it may create CLI tokens)",
            },
        },
        "Conditions": {
            "CreateMwaa": {"Fn::Equals": [{"Ref": "CreateMwaaEnvironment"}, "true"]},
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
            "TriggerByCli": {"Fn::Equals": [{"Ref": "TriggerMethod"}, "cli"]},
        },
        "Resources": resources,
        "Outputs": {
            "RawBucket": {"Value": {"Ref": "RawBucket"}},
            "KpiTable": {"Value": {"Ref": "KpiTable"}},
            "TriggerDagFunction": {"Value": {"Ref": "TriggerDagFunction"}},
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        if TEMPLATE.read_text() != render():
            print("infra/template.json is out of date: run python infra/template.py")
            return 1
        return 0
    TEMPLATE.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
