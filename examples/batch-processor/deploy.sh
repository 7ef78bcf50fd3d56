#!/usr/bin/env bash
# A queue-triggered batch processor with partial batch failures and a dead-letter
# queue, deployed to a running Nimbus with the AWS CLI; sends orders (some bad) and
# checks where each ended up.
#
#   export AWS_SHARED_CREDENTIALS_FILE=.nimbus/credentials AWS_CONFIG_FILE=.nimbus/config
#   examples/batch-processor/deploy.sh
#
# AWS CLI v1 sends `aws sqs` to SQS's own host unless --endpoint-url is given, so
# every sqs command below passes it (AWS_ENDPOINT_URL, default http://localhost:4566).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
ENDPOINT="${AWS_ENDPOINT_URL:-http://localhost:4566}"
PREFIX="${PREFIX:-orders}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sqs() { aws sqs --endpoint-url "$ENDPOINT" "$@"; }

echo "== queues: $PREFIX-dlq, and $PREFIX (3 receives, then the DLQ)"
dlq_url="$(sqs create-queue --queue-name "$PREFIX-dlq" --query QueueUrl --output text)"
dlq_arn="$(sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn --query Attributes.QueueArn --output text)"
cat > "$work/attrs.json" <<JSON
{"VisibilityTimeout": "1", "RedrivePolicy": "{\"deadLetterTargetArn\":\"$dlq_arn\",\"maxReceiveCount\":\"3\"}"}
JSON
url="$(sqs create-queue --queue-name "$PREFIX" --attributes "file://$work/attrs.json" --query QueueUrl --output text)"
arn="$(sqs get-queue-attributes --queue-url "$url" --attribute-names QueueArn --query Attributes.QueueArn --output text)"

echo "== bucket $PREFIX-results, function $PREFIX-processor"
aws s3 mb "s3://$PREFIX-results" >/dev/null 2>&1 || true
role="$("$here/../role.sh" "$PREFIX-processor" "{\"Version\": \"2012-10-17\", \"Statement\": [
  {\"Effect\": \"Allow\", \"Action\": \"s3:PutObject\", \"Resource\": \"arn:aws:s3:::$PREFIX-results/*\"},
  {\"Effect\": \"Allow\", \"Action\": [\"sqs:ReceiveMessage\", \"sqs:DeleteMessage\", \"sqs:GetQueueAttributes\"],
   \"Resource\": \"$arn\"}]}")"
(cd "$here/function" && "$PYTHON" -m zipfile -c "$work/fn.zip" app.py)
aws lambda delete-function --function-name "$PREFIX-processor" >/dev/null 2>&1 || true
aws lambda create-function --function-name "$PREFIX-processor" --runtime python3.12 \
    --handler app.handler --role "$role" --timeout 30 \
    --environment "Variables={RESULTS_BUCKET=$PREFIX-results}" \
    --zip-file "fileb://$work/fn.zip" >/dev/null

echo "== event source mapping: batches of 10, ReportBatchItemFailures"
aws lambda create-event-source-mapping --function-name "$PREFIX-processor" --event-source-arn "$arn" \
    --batch-size 10 --maximum-batching-window-in-seconds 1 \
    --function-response-types ReportBatchItemFailures >/dev/null

echo "== 20 orders, 3 of them bad"
for batch in 0 1; do
    entries=""
    for i in $(seq 0 9); do
        n=$((batch * 10 + i))
        qty=$((n % 7 == 3 ? 0 : n + 1))
        entries="$entries{\"Id\":\"o$n\",\"MessageBody\":\"{\\\"id\\\":\\\"order-$n\\\",\\\"quantity\\\":$qty}\"},"
    done
    sqs send-message-batch --queue-url "$url" --entries "[${entries%,}]" >/dev/null
done

echo "== waiting for 17 processed orders and 3 in the dead-letter queue"
for _ in $(seq 1 120); do
    processed="$(aws s3 ls "s3://$PREFIX-results/processed/" | wc -l)"
    dead="$(sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names ApproximateNumberOfMessages \
        --query Attributes.ApproximateNumberOfMessages --output text)"
    if [ "$processed" -eq 17 ] && [ "$dead" -eq 3 ]; then
        echo "processed: $processed, dead-lettered: $dead"
        sqs receive-message --queue-url "$dlq_url" --max-number-of-messages 10 --query 'Messages[].Body' --output text
        exit 0
    fi
    sleep 0.5
done
echo "timed out: processed $processed, dead-lettered $dead; see: nimbus logs $PREFIX-processor" >&2
exit 1
