"""Make a bucket on an S3 server that anyone may download from, as a public bucket on the platform,
and that takes uploads straight from the pages of the sites named by --cors-origin.

Docker Compose's `s3-setup` service runs it once the S3 emulator answers:

    python scripts/make_public_bucket.py --cors-origin http://localhost:8000 \
        --endpoint http://s3:9000 media

Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as for any boto3 client.
Running it again changes nothing: an existing bucket is kept, with its files.
"""

import argparse
import contextlib
import json
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def public_read_policy(bucket):
    """Anyone may download the bucket's files (s3:GetObject), but not list or change them."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }


def direct_upload_cors(origins):
    """The admin's pages at these origins may send files to the bucket (file_lifecycle's
    uploads.js): a presigned POST, or a multipart upload's parts (PUT). Reading the answers'
    ETags is not needed: the app completes multipart uploads from the parts S3 lists."""
    return {
        "CORSRules": [
            {
                "AllowedOrigins": origins,
                "AllowedMethods": ["POST", "PUT"],
                "AllowedHeaders": ["*"],
                "MaxAgeSeconds": 3600,
            }
        ]
    }


def make_public_bucket(s3, bucket, cors_origins=()):
    # Kept as it is when it exists, files included.
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read_policy(bucket)))
    if cors_origins:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=direct_upload_cors(list(cors_origins)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="the S3 server, e.g. http://s3:9000")
    parser.add_argument("--region", default="us-east-1", help="the region requests are signed for")
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        help="a site whose pages send files straight to the bucket, e.g. http://localhost:8000",
    )
    parser.add_argument("bucket")
    arguments = parser.parse_args(argv)
    s3 = boto3.client("s3", endpoint_url=arguments.endpoint, region_name=arguments.region)
    try:
        make_public_bucket(s3, arguments.bucket, arguments.cors_origin)
    except (BotoCoreError, ClientError) as error:
        sys.exit(
            f"Cannot make the public bucket {arguments.bucket!r} at {arguments.endpoint}: {error}"
            " (is the S3 server up, and are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY its keys?)"
        )
    uploads = f"; {', '.join(arguments.cors_origin)} may upload" if arguments.cors_origin else ""
    print(
        f"Bucket {arguments.bucket!r} at {arguments.endpoint}: anyone may download its files"
        f"{uploads}."
    )


if __name__ == "__main__":
    main()
