"""The AWS stand-in through boto3: buckets, presigned downloads, cross-account roles, EKS clusters."""

from __future__ import annotations

import urllib.request
import uuid

from bot.sandbox.aws import AwsSandbox


def test_presigned_s3_url_downloads_the_object(aws: AwsSandbox) -> None:
    bucket = aws.create_bucket(f"logs-{uuid.uuid4().hex[:8]}")
    s3 = aws.client("s3")
    s3.put_object(Bucket=bucket, Key="argo/wf-1/main.log", Body=b"hello from a step\n")

    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "argo/wf-1/main.log"}, ExpiresIn=300
    )

    assert "X-Amz-Signature=" in url  # SigV4, as real S3 wants
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"hello from a step\n"


def test_role_in_another_account_can_be_assumed(aws: AwsSandbox) -> None:
    arn = aws.create_role("210987654321", "chatops-deployer")

    credentials = aws.assume_role(arn, session_name="chatops")

    assert arn == "arn:aws:iam::210987654321:role/chatops-deployer"
    identity = aws.client("sts", credentials=credentials).get_caller_identity()
    assert identity["Account"] == "210987654321"
    assert identity["Arn"] == "arn:aws:sts::210987654321:assumed-role/chatops-deployer/chatops"


def test_eks_cluster_reports_the_real_endpoint_to_its_account_only(aws: AwsSandbox) -> None:
    credentials = aws.assume_role(aws.create_role("310987654321", "eks-admin"))

    aws.create_eks_cluster(
        name="prod",
        region="eu-west-1",
        account_credentials=credentials,
        endpoint="http://127.0.0.1:6443",
        ca_data="",
    )

    described = aws.client("eks", region="eu-west-1", credentials=credentials).describe_cluster(name="prod")
    assert described["cluster"]["endpoint"] == "http://127.0.0.1:6443"
    assert described["cluster"]["certificateAuthority"] == {"data": ""}
    # Resources are per account: the sandbox's own account does not see it.
    assert aws.client("eks", region="eu-west-1").list_clusters()["clusters"] == []
