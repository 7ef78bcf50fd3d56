#!/usr/bin/env bash
# An execution role for the examples' functions (and state machines): NAME, trusting
# Lambda and Step Functions, with one inline policy allowing exactly what the
# example's code does. Made or updated; prints the role's ARN.
#
#   role_arn="$(examples/role.sh NAME '{"Version": "2012-10-17", "Statement": [...]}')"
set -euo pipefail
name="$1"
policy="$2"
trust='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
  "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]}'
aws iam create-role --role-name "$name" --assume-role-policy-document "$trust" >/dev/null 2>&1 || true
aws iam put-role-policy --role-name "$name" --policy-name "$name" --policy-document "$policy"
aws iam get-role --role-name "$name" --query Role.Arn --output text
