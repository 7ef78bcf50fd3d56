#!/usr/bin/env bash
# A single-table store with a stream-fed audit log, deployed to a running Nimbus with
# the AWS CLI, then exercised with boto3 (store.py).
#
#   export AWS_SHARED_CREDENTIALS_FILE=.nimbus/credentials AWS_CONFIG_FILE=.nimbus/config
#   examples/single-table/deploy.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
PREFIX="${PREFIX:-shop}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== tables: $PREFIX (with a stream of old and new images) and $PREFIX-audit"
for t in "$PREFIX" "$PREFIX-audit"; do
    aws dynamodb delete-table --table-name "$t" >/dev/null 2>&1 || true
done
aws dynamodb create-table --table-name "$PREFIX" \
    --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
    --billing-mode PAY_PER_REQUEST \
    --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES >/dev/null
aws dynamodb create-table --table-name "$PREFIX-audit" \
    --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
    --billing-mode PAY_PER_REQUEST >/dev/null
stream="$(aws dynamodb describe-table --table-name "$PREFIX" --query Table.LatestStreamArn --output text)"

echo "== function $PREFIX-audit-log, fed by the stream"
role="$("$here/../role.sh" "$PREFIX-audit" "{\"Version\": \"2012-10-17\", \"Statement\": [
  {\"Effect\": \"Allow\", \"Action\": \"dynamodb:PutItem\", \"Resource\": \"arn:aws:dynamodb:*:*:table/$PREFIX-audit\"},
  {\"Effect\": \"Allow\", \"Action\": [\"dynamodb:GetRecords\", \"dynamodb:GetShardIterator\",
   \"dynamodb:DescribeStream\", \"dynamodb:ListStreams\"], \"Resource\": \"$stream\"}]}")"
(cd "$here/function" && "$PYTHON" -m zipfile -c "$work/fn.zip" app.py)
aws lambda delete-function --function-name "$PREFIX-audit-log" >/dev/null 2>&1 || true
aws lambda create-function --function-name "$PREFIX-audit-log" --runtime python3.12 \
    --handler app.handler --role "$role" --timeout 30 \
    --environment "Variables={AUDIT_TABLE=$PREFIX-audit}" \
    --zip-file "fileb://$work/fn.zip" >/dev/null
aws lambda create-event-source-mapping --function-name "$PREFIX-audit-log" --event-source-arn "$stream" \
    --starting-position TRIM_HORIZON --batch-size 100 >/dev/null

echo "== the store at work"
PREFIX="$PREFIX" "$PYTHON" "$here/store.py"
