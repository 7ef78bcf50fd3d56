#!/usr/bin/env bash
# A REST API (GET /items/{id}, POST /items) backed by the table store, behind an HTTP
# API, deployed to a running Nimbus with the AWS CLI and called with curl.
#
#   export AWS_SHARED_CREDENTIALS_FILE=.nimbus/credentials AWS_CONFIG_FILE=.nimbus/config
#   examples/rest-api/deploy.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
PREFIX="${PREFIX:-items}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== table $PREFIX and function $PREFIX-api"
aws dynamodb delete-table --table-name "$PREFIX" >/dev/null 2>&1 || true
aws dynamodb create-table --table-name "$PREFIX" --attribute-definitions AttributeName=id,AttributeType=S \
    --key-schema AttributeName=id,KeyType=HASH --billing-mode PAY_PER_REQUEST >/dev/null
role="$("$here/../role.sh" "$PREFIX-api" "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\",
  \"Action\": [\"dynamodb:GetItem\", \"dynamodb:PutItem\", \"dynamodb:Scan\"],
  \"Resource\": \"arn:aws:dynamodb:*:*:table/$PREFIX\"}]}")"
(cd "$here/function" && "$PYTHON" -m zipfile -c "$work/fn.zip" app.py)
aws lambda delete-function --function-name "$PREFIX-api" >/dev/null 2>&1 || true
fn_arn="$(aws lambda create-function --function-name "$PREFIX-api" --runtime python3.12 \
    --handler app.handler --role "$role" --timeout 10 \
    --environment "Variables={TABLE=$PREFIX}" --zip-file "fileb://$work/fn.zip" \
    --query FunctionArn --output text)"

echo "== HTTP API with three routes and an auto-deployed \$default stage"
api_id="$(aws apigatewayv2 create-api --name "$PREFIX" --protocol-type HTTP --query ApiId --output text)"
integration="$(aws apigatewayv2 create-integration --api-id "$api_id" --integration-type AWS_PROXY \
    --integration-uri "$fn_arn" --payload-format-version 2.0 --query IntegrationId --output text)"
for route in "GET /items" "GET /items/{id}" "POST /items"; do
    aws apigatewayv2 create-route --api-id "$api_id" --route-key "$route" \
        --target "integrations/$integration" >/dev/null
done
aws apigatewayv2 create-stage --api-id "$api_id" --stage-name '$default' --auto-deploy >/dev/null
# API Gateway invokes the function as apigateway.amazonaws.com for this API: the
# function's resource policy must allow it, or every route answers 500.
account="$(aws sts get-caller-identity --query Account --output text)"
region="$(echo "$fn_arn" | cut -d: -f4)"
aws lambda add-permission --function-name "$PREFIX-api" --statement-id "apigw-$api_id" \
    --action lambda:InvokeFunction --principal apigateway.amazonaws.com \
    --source-arn "arn:aws:execute-api:$region:$account:$api_id/*" >/dev/null
endpoint="$(aws apigatewayv2 get-api --api-id "$api_id" --query ApiEndpoint --output text)"
echo "API: $endpoint"

echo "== curl"
created="$(curl -sS -X POST "$endpoint/items" -H 'content-type: application/json' -d '{"name": "teapot"}' \
    -w '\n%{http_code}')"
echo "POST /items -> $(echo "$created" | head -1) $(echo "$created" | tail -1)"
[ "$(echo "$created" | tail -1)" = "201" ]
id="$(echo "$created" | head -1 | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
echo "GET /items/$id -> $(curl -sS "$endpoint/items/$id" -w ' %{http_code}')"
echo "GET /items/nope -> $(curl -sS "$endpoint/items/nope" -w ' %{http_code}')"
echo "POST /items (bad) -> $(curl -sS -X POST "$endpoint/items" -d 'not json' -w ' %{http_code}')"
echo "GET /items -> $(curl -sS "$endpoint/items" -w ' %{http_code}')"
