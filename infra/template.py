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

from music_streaming import config  # noqa: E402

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


def sub(text: str) -> dict:
    return {"Fn::Sub": text}


def bucket_arn(setting: str, objects: bool = False) -> str:
    return f"arn:${{AWS::Partition}}:s3:::{SETTINGS[setting]}" + ("/*" if objects else "")


def bucket(logical: str, setting: str) -> dict:
    properties: dict = {
        "BucketName": SETTINGS[setting],
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
    if logical == "ArchiveBucket":
        properties["LifecycleConfiguration"] = {
            "Rules": [
                {
                    "Id": "to-archive-storage",
                    "Status": "Enabled",
                    "Transitions": [
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
    if logical == "RawBucket":
        # Versioned: the file ledger tracks each upload as its own version. Every upload reaches
        # the Lambda (S3's suffix filter is case-sensitive; filtered keys would go unreported).
        properties["VersioningConfiguration"] = {"Status": "Enabled"}
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


def table(definition: dict) -> dict:
    properties = dict(definition)
    properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    properties["SSESpecification"] = {"SSEEnabled": True}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def glue_job(key: str) -> dict:
    definition = config.glue_job_definition(key, SETTINGS, "ROLE")
    definition["Role"] = {"Fn::GetAtt": ["GlueJobRole", "Arn"]}
    return {"Type": "AWS::Glue::Job", "Properties": definition}


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


# Reading and moving exact file versions, and verifying copies by their checksums.
OBJECT_VERSION_ACTIONS = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
]
LEDGER_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
]


def glue_role() -> dict:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume("glue.amazonaws.com"),
            "Policies": [
                policy(
                    "music-streaming-glue",
                    [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "s3:ListBucket",
                                "s3:ListBucketVersions",
                                "s3:GetBucketLocation",
                            ],
                            "Resource": [sub(bucket_arn(s)) for s in BUCKETS.values()],
                        },
                        {
                            "Effect": "Allow",
                            "Action": OBJECT_VERSION_ACTIONS,
                            "Resource": [sub(bucket_arn(s, True)) for s in BUCKETS.values()],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject"],
                            "Resource": [sub(bucket_arn("scripts_bucket", True))],
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                *LEDGER_ACTIONS,
                                "dynamodb:ConditionCheckItem",
                                "dynamodb:DescribeTable",
                            ],
                            "Resource": table_arns(),
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
                    ],
                )
            ],
        },
    }


def lambda_role() -> dict:
    return {
        "Type": "AWS::IAM::Role",
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
                        {
                            "Effect": "Allow",
                            "Action": "airflow:CreateCliToken",
                            "Resource": sub(
                                f"arn:${{AWS::Partition}}:airflow:${{AWS::Region}}:"
                                f"${{AWS::AccountId}}:environment/{ENV}"
                            ),
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


def mwaa_role() -> dict:
    glue_jobs = [
        sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:job/" + str(spec["name"]))
        for spec in config.GLUE_JOBS.values()
    ]
    return {
        "Type": "AWS::IAM::Role",
        "Condition": "CreateMwaa",
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
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                            "Resource": [
                                sub(bucket_arn(s)) for s in [*BUCKETS.values(), "scripts_bucket"]
                            ]
                            + [
                                sub(bucket_arn(s, True))
                                for s in [*BUCKETS.values(), "scripts_bucket"]
                            ],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:PutObject", "s3:DeleteObject"],
                            "Resource": [
                                sub(bucket_arn("processed_bucket", True)),
                                sub(bucket_arn("scripts_bucket", True)),
                            ],
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                "glue:GetJob",
                                "glue:StartJobRun",
                                "glue:GetJobRun",
                                "glue:GetJobRuns",
                                "glue:BatchStopJobRun",
                            ],
                            "Resource": glue_jobs,
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["dynamodb:DescribeTable", "dynamodb:CreateTable"],
                            "Resource": table_arns(),
                        },
                        {"Effect": "Allow", "Action": LEDGER_ACTIONS, "Resource": ledger_arns()},
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
                                ),
                                sub(
                                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
                                    "log-group:/aws-glue/*"
                                ),
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
    resources["KpiTable"] = table(config.kpi_table_definition(KPI_TABLE))
    resources["FileTrackerTable"] = table(config.file_tracker_table_definition(KPI_TABLE))
    resources["GlueJobRole"] = glue_role()
    resources["ValidationJob"] = glue_job("validation")
    resources["EtlJob"] = glue_job("etl")
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
            "Environment": {"Variables": config.lambda_environment(SETTINGS)},
        },
    }
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
            "DagS3Path": "dags",
            "RequirementsS3Path": "requirements.txt",
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
        },
        "Conditions": {
            "CreateMwaa": {"Fn::Equals": [{"Ref": "CreateMwaaEnvironment"}, "true"]},
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
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
