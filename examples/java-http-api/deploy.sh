#!/usr/bin/env bash
# A Java function behind an HTTP API: compiled with the host's JDK, deployed to a
# running Nimbus with the AWS CLI (runtime java21), called with curl.
#
#   export AWS_SHARED_CREDENTIALS_FILE=.nimbus/credentials AWS_CONFIG_FILE=.nimbus/config
#   examples/java-http-api/deploy.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
PREFIX="${PREFIX:-greetings}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== compile and package $PREFIX-api"
# The Lambda interfaces (RequestHandler, Context) would come from aws-lambda-java-core's
# jar; offline, compile against Nimbus's own copy of them (-implicit:none keeps them
# out of the package: the runtime provides them).
javac --release 11 -implicit:none -sourcepath "$here/../../runtimes/java/src" -d "$work/classes" \
    "$here"/function/src/example/*.java
(cd "$work/classes" && "$PYTHON" -m zipfile -c "$work/fn.jar" example)
role="$("$here/../role.sh" "$PREFIX-api" '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]}')"
aws lambda delete-function --function-name "$PREFIX-api" >/dev/null 2>&1 || true
fn_arn="$(aws lambda create-function --function-name "$PREFIX-api" --runtime java21 \
    --handler example.Greetings --role "$role" --timeout 15 --memory-size 512 \
    --zip-file "fileb://$work/fn.jar" --query FunctionArn --output text)"

echo "== HTTP API with two routes and an auto-deployed \$default stage"
api_id="$(aws apigatewayv2 create-api --name "$PREFIX" --protocol-type HTTP --query ApiId --output text)"
integration="$(aws apigatewayv2 create-integration --api-id "$api_id" --integration-type AWS_PROXY \
    --integration-uri "$fn_arn" --payload-format-version 2.0 --query IntegrationId --output text)"
for route in "GET /hello/{name}" "POST /echo"; do
    aws apigatewayv2 create-route --api-id "$api_id" --route-key "$route" \
        --target "integrations/$integration" >/dev/null
done
aws apigatewayv2 create-stage --api-id "$api_id" --stage-name '$default' --auto-deploy >/dev/null
account="$(aws sts get-caller-identity --query Account --output text)"
region="$(echo "$fn_arn" | cut -d: -f4)"
aws lambda add-permission --function-name "$PREFIX-api" --statement-id "apigw-$api_id" \
    --action lambda:InvokeFunction --principal apigateway.amazonaws.com \
    --source-arn "arn:aws:execute-api:$region:$account:$api_id/*" >/dev/null
endpoint="$(aws apigatewayv2 get-api --api-id "$api_id" --query ApiEndpoint --output text)"
echo "API: $endpoint"

echo "== curl"
echo "GET /hello/duke -> $(curl -sS "$endpoint/hello/duke?greeting=Hi" -w ' %{http_code}')"
echo "POST /echo -> $(curl -sS -X POST "$endpoint/echo" -H 'content-type: application/json' \
    -d '{"some": "json"}' -w ' %{http_code}')"
echo "GET /nothing -> $(curl -sS "$endpoint/nothing" -w ' %{http_code}')"
