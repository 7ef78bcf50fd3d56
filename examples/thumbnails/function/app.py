"""Makes a 200x200 JPEG thumbnail of every image uploaded under uploads/, and
writes it under thumbnails/ in the same bucket (another prefix: the function's own
writes do not trigger it again)."""
import io
import os
import urllib.parse

import boto3
from PIL import Image, ImageOps

s3 = boto3.client("s3")
SIZE = (200, 200)


def handler(event, context):
    made = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        # Keys arrive form-URL-encoded, as S3 sends them.
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        image = Image.open(io.BytesIO(original))
        thumb = ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), SIZE)
        out = io.BytesIO()
        thumb.save(out, "JPEG", quality=85)
        name = os.path.splitext(os.path.basename(key))[0] + ".jpg"
        target = "thumbnails/" + name
        s3.put_object(Bucket=bucket, Key=target, Body=out.getvalue(), ContentType="image/jpeg")
        made.append(target)
    return {"thumbnails": made}
