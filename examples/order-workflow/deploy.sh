#!/usr/bin/env bash
# An order-processing workflow on Step Functions: four Python functions and a state
# machine (validate; pay with Retry on PaymentTimeout; reserve stock and confirm in
# parallel; invalid orders caught into a Fail state), deployed to a running Nimbus
# with the AWS CLI, then run on a good order and a bad one.
#
#   export AWS_SHARED_CREDENTIALS_FILE=.nimbus/credentials AWS_CONFIG_FILE=.nimbus/config
#   examples/order-workflow/deploy.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
PREFIX="${PREFIX:-orders}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== table $PREFIX and functions $PREFIX-{validate,pay,reserve,confirm}"
aws dynamodb delete-table --table-name "$PREFIX" >/dev/null 2>&1 || true
aws dynamodb create-table --table-name "$PREFIX" --attribute-definitions AttributeName=pk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH --billing-mode PAY_PER_REQUEST >/dev/null
(cd "$here/functions" && "$PYTHON" -m zipfile -c "$work/fn.zip" app.py)
# The steps write orders; the state machine invokes the steps.
role="$("$here/../role.sh" "$PREFIX" "{\"Version\": \"2012-10-17\", \"Statement\": [
  {\"Effect\": \"Allow\", \"Action\": \"dynamodb:PutItem\", \"Resource\": \"arn:aws:dynamodb:*:*:table/$PREFIX\"},
  {\"Effect\": \"Allow\", \"Action\": \"lambda:InvokeFunction\", \"Resource\": \"arn:aws:lambda:*:*:function:$PREFIX-*\"}]}")"
declare -A arns
for step in validate pay reserve confirm; do
    aws lambda delete-function --function-name "$PREFIX-$step" >/dev/null 2>&1 || true
    arns[$step]="$(aws lambda create-function --function-name "$PREFIX-$step" --runtime python3.12 \
        --handler "app.$step" --role "$role" --timeout 10 \
        --environment "Variables={TABLE=$PREFIX}" --zip-file "fileb://$work/fn.zip" \
        --query FunctionArn --output text)"
done

echo "== state machine $PREFIX"
VALIDATE="${arns[validate]}" PAY="${arns[pay]}" RESERVE="${arns[reserve]}" CONFIRM="${arns[confirm]}" \
    "$PYTHON" -c 'import os, sys; print(os.path.expandvars(open(sys.argv[1]).read()))' "$here/workflow.json" \
    > "$work/workflow.json"
old="$(aws stepfunctions list-state-machines --query "stateMachines[?name=='$PREFIX'].stateMachineArn" --output text)"
[ -n "$old" ] && aws stepfunctions delete-state-machine --state-machine-arn "$old"
machine="$(aws stepfunctions create-state-machine --name "$PREFIX" --role-arn "$role" \
    --definition "file://$work/workflow.json" --query stateMachineArn --output text)"

run() {  # name, input: start an execution and wait for its end
    local arn status
    arn="$(aws stepfunctions start-execution --state-machine-arn "$machine" --name "$1" --input "$2" \
        --query executionArn --output text)"
    for _ in $(seq 1 300); do
        status="$(aws stepfunctions describe-execution --execution-arn "$arn" --query status --output text)"
        [ "$status" != RUNNING ] && break
        sleep 0.2
    done
    echo "$1 -> $status"
    aws stepfunctions describe-execution --execution-arn "$arn" --query '[output, error, cause]' --output json
    echo "$1 events -> $(aws stepfunctions get-execution-history --execution-arn "$arn" \
        --query 'events[].type' --output text | tr '\t' ' ')"
}

echo "== a good order whose first payment attempt times out"
run "order-$RANDOM$RANDOM" '{"order_id": "A-1", "email": "ada@example.com", "flaky_payments": 1,
    "items": [{"sku": "teapot", "price": 30, "qty": 1}, {"sku": "cup", "price": 5, "qty": 4}]}'
echo "== an order with no items"
run "order-$RANDOM$RANDOM" '{"order_id": "B-2", "email": "bob@example.com", "flaky_payments": 0, "items": []}'
echo "== stock reserved: $(aws dynamodb get-item --table-name "$PREFIX" --key '{"pk": {"S": "ORDER#A-1"}}' \
    --query 'Item.status.S' --output text)"
