"""The least-privilege IAM policy for a session table (``dynamodb-sessions iam-policy``).

Three statements, each for one kind of caller, so the web application's role gets only the first
two and the maintenance and admin jobs get what they run::

    Sid             actions                                  on          for
    Sessions        GetItem PutItem UpdateItem DeleteItem    table       every web request
    UserSessions    Query                                    user index  list/revoke a user's
    CollectExpired  Scan BatchWriteItem (+ DeleteItem above) table       gc, clearsessions, stats
    ManageTable     DescribeTable CreateTable UpdateTable    table       create-table, check
                    DescribeTimeToLive UpdateTimeToLive

Nothing else is called: no transactions, no streams, no ``*`` actions. BatchWriteItem only
deletes (``gc``, of items expired longer ago than its margin); IAM cannot tell a batch's puts
from its deletes, so it is granted to the GC job alone.
"""

from __future__ import annotations

from typing import Any

from .config import StoreConfig

SESSION_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
INDEX_ACTIONS = ("dynamodb:Query",)
GC_ACTIONS = ("dynamodb:Scan", "dynamodb:BatchWriteItem")
ADMIN_ACTIONS = (
    "dynamodb:DescribeTable",
    "dynamodb:CreateTable",
    "dynamodb:UpdateTable",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:UpdateTimeToLive",
)


def partition_of(region: str) -> str:
    """The AWS partition of ``region`` (``aws``, ``aws-cn``, ``aws-us-gov``); ``aws`` for ``*``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def table_arn(table: str, *, region: str = "*", account: str = "*") -> str:
    """The ARN of ``table`` (``*`` for any region or account)."""
    return f"arn:{partition_of(region)}:dynamodb:{region}:{account}:table/{table}"


def iam_policy(
    table: str,
    *,
    region: str = "*",
    account: str = "*",
    user_index: str | None = StoreConfig.user_index,
    gc: bool = False,
    admin: bool = False,
) -> dict[str, Any]:
    """The IAM policy document (a JSON-ready dict) granting what this library calls on ``table``.

    The web application needs the ``Sessions`` statement, and ``UserSessions`` on the user index
    when it lists or revokes a user's sessions (``user_index=None`` leaves it out). ``gc`` adds
    ``Scan`` and ``BatchWriteItem`` for ``dynamodb-sessions gc``; ``admin`` adds what
    ``create-table`` and ``check`` call. ``region``/``account`` narrow the ARNs; ``*`` matches
    any (a table of that name in every region, which is what a Global Table's replicas are).
    """
    arn = table_arn(table, region=region, account=account)
    statements: list[dict[str, Any]] = [
        {"Sid": "Sessions", "Effect": "Allow", "Action": list(SESSION_ACTIONS), "Resource": arn}
    ]
    if user_index is not None:
        statements.append(
            {
                "Sid": "UserSessions",
                "Effect": "Allow",
                "Action": list(INDEX_ACTIONS),
                "Resource": f"{arn}/index/{user_index}",
            }
        )
    if gc:
        statements.append(
            {
                "Sid": "CollectExpired",
                "Effect": "Allow",
                "Action": list(GC_ACTIONS),
                "Resource": arn,
            }
        )
    if admin:
        statements.append(
            {
                "Sid": "ManageTable",
                "Effect": "Allow",
                "Action": list(ADMIN_ACTIONS),
                "Resource": arn,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
