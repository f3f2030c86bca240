"""``dynamodb-sessions iam-policy``: the least-privilege policy, pinned, and every action it
grants is one the library calls (and every call it makes is granted)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from dynamodb_sessions import cli
from dynamodb_sessions.iam import iam_policy, partition_of

SRC = Path(__file__).resolve().parents[2] / "src" / "dynamodb_sessions"
ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out=out), out.getvalue()


def test_the_policy_is_pinned():
    code, text = run(
        "iam-policy", "--table", "sessions", "--region", "eu-west-1", "--account", "123456789012",
        "--with-gc", "--with-admin",
    )  # fmt: skip
    assert code == 0
    assert json.loads(text) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Sessions",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                "Resource": ARN,
            },
            {
                "Sid": "UserSessions",
                "Effect": "Allow",
                "Action": ["dynamodb:Query"],
                "Resource": f"{ARN}/index/user_id-index",
            },
            {
                "Sid": "CollectExpired",
                "Effect": "Allow",
                "Action": ["dynamodb:Scan", "dynamodb:BatchWriteItem"],
                "Resource": ARN,
            },
            {
                "Sid": "ManageTable",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:DescribeTable",
                    "dynamodb:CreateTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:UpdateTimeToLive",
                ],
                "Resource": ARN,
            },
        ],
    }


def test_the_web_application_policy_is_the_default(monkeypatch):
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", "app-sessions")
    code, text = run("iam-policy")
    assert code == 0
    statements = json.loads(text)["Statement"]
    assert [s["Sid"] for s in statements] == ["Sessions", "UserSessions"]
    assert statements[0]["Resource"] == "arn:aws:dynamodb:*:*:table/app-sessions"

    _, text = run("iam-policy", "--no-user-index")
    assert [s["Sid"] for s in json.loads(text)["Statement"]] == ["Sessions"]


def test_the_region_comes_from_the_environment_and_sets_the_partition(monkeypatch):
    monkeypatch.setenv("AWS_REGION_NAME", "cn-north-1")
    _, text = run("iam-policy", "--table", "t")
    assert (
        json.loads(text)["Statement"][0]["Resource"] == "arn:aws-cn:dynamodb:cn-north-1:*:table/t"
    )
    assert partition_of("us-gov-west-1") == "aws-us-gov"
    assert partition_of("*") == "aws"


def test_a_table_is_required(capsys):
    code, _ = run("iam-policy")
    assert code == cli.USAGE
    assert "AWS_DYNAMODB_SESSION_TABLE" in capsys.readouterr().err


def test_every_operation_the_library_calls_is_granted_and_nothing_more():
    called = set()
    for path in (SRC / "_core").glob("*.py"):
        called |= set(re.findall(r'Call\(\s*"([a-z_]+)"', path.read_text()))
    called |= {"get_item"}  # the demo's read-back of the stored item
    granted = {
        re.sub(r"(?<!^)(?=[A-Z])", "_", action.removeprefix("dynamodb:")).lower()
        for statement in iam_policy("t", gc=True, admin=True)["Statement"]
        for action in statement["Action"]
    }
    assert called == granted


@pytest.mark.parametrize("gc", [False, True])
def test_only_the_gc_statement_grants_scan_and_batch_writes(gc):
    actions = [a for s in iam_policy("t", gc=gc)["Statement"] for a in s["Action"]]
    assert ("dynamodb:Scan" in actions) is gc
    assert ("dynamodb:BatchWriteItem" in actions) is gc
