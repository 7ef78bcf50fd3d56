#!/usr/bin/env bash
# Deploy the thumbnail example to a running Nimbus with the AWS CLI, upload a
# picture and wait for its thumbnail.
#
#   export AWS_SHARED_CREDENTIALS_FILE=.nimbus/credentials AWS_CONFIG_FILE=.nimbus/config
#   examples/thumbnails/deploy.sh [image.jpg]
#
# PYTHON (default python3) installs Pillow into the function's package, as a Lambda
# user would (`pip install --target`); BUCKET and FUNCTION name what is created.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
BUCKET="${BUCKET:-thumbnails-demo}"
FUNCTION="${FUNCTION:-make-thumbnail}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== package: app.py + Pillow"
mkdir -p "$work/package"
cp "$here/function/app.py" "$work/package/"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$work/package" pillow
(cd "$work/package" && "$PYTHON" -m zipfile -c "$work/function.zip" .)

echo "== role and function $FUNCTION"
role="$("$here/../role.sh" "$FUNCTION" "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\",
  \"Action\": [\"s3:GetObject\", \"s3:PutObject\"], \"Resource\": \"arn:aws:s3:::$BUCKET/*\"}]}")"
aws lambda delete-function --function-name "$FUNCTION" >/dev/null 2>&1 || true
arn="$(aws lambda create-function --function-name "$FUNCTION" --runtime python3.12 \
    --handler app.handler --role "$role" \
    --timeout 30 --memory-size 512 --zip-file "fileb://$work/function.zip" \
    --query FunctionArn --output text)"

echo "== bucket $BUCKET, notifying $FUNCTION of uploads/"
aws s3 mb "s3://$BUCKET" >/dev/null 2>&1 || true
# S3 invokes the function as s3.amazonaws.com for this bucket: the function's
# resource policy must allow it, or S3 refuses the configuration.
account="$(aws sts get-caller-identity --query Account --output text)"
aws lambda add-permission --function-name "$FUNCTION" --statement-id "s3-$BUCKET" \
    --action lambda:InvokeFunction --principal s3.amazonaws.com \
    --source-arn "arn:aws:s3:::$BUCKET" --source-account "$account" >/dev/null
aws s3api put-bucket-notification-configuration --bucket "$BUCKET" \
    --notification-configuration "{\"LambdaFunctionConfigurations\": [{
        \"LambdaFunctionArn\": \"$arn\", \"Events\": [\"s3:ObjectCreated:*\"],
        \"Filter\": {\"Key\": {\"FilterRules\": [{\"Name\": \"prefix\", \"Value\": \"uploads/\"}]}}}]}"

image="${1:-}"
if [ -z "$image" ]; then
    image="$work/sample.png"
    PYTHONPATH="$work/package" "$PYTHON" -c "
from PIL import Image
img = Image.new('RGB', (640, 480))
for x in range(640):
    for y in range(0, 480, 8):
        img.putpixel((x, y), (x % 256, y % 256, 128))
img.save('$image')"
fi
name="$(basename "${image%.*}")"
echo "== upload $image to s3://$BUCKET/uploads/"
aws s3 cp "$image" "s3://$BUCKET/uploads/$(basename "$image")" >/dev/null

echo "== waiting for s3://$BUCKET/thumbnails/$name.jpg"
for _ in $(seq 1 120); do
    if aws s3 cp "s3://$BUCKET/thumbnails/$name.jpg" "$work/thumb.jpg" >/dev/null 2>&1; then
        PYTHONPATH="$work/package" "$PYTHON" -c "
from PIL import Image
t = Image.open('$work/thumb.jpg')
assert t.format == 'JPEG' and t.size == (200, 200), (t.format, t.size)
print('thumbnail:', t.format, '%dx%d' % t.size)"
        exit 0
    fi
    sleep 0.5
done
echo "no thumbnail after 60 s; see the function's log: nimbus logs $FUNCTION" >&2
exit 1
