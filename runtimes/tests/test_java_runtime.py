"""The Java runtime client's JSON reader and writer, driven from here: random documents
round-trip through Json.parse and Pojo.write unchanged, and random corruptions of them
are refused with Json.ParseException (or read as something), never a crash."""
import json
import pathlib
import random
import shutil
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def probe():
    javac = shutil.which("javac")
    assert javac, "a JDK is needed (the README's setup installs one)"
    out = tempfile.mkdtemp(prefix="nimbus-jsonprobe-")
    sources = [str(p) for p in (ROOT / "runtimes" / "java" / "src").rglob("*.java")]
    sources.append(str(ROOT / "runtimes" / "tests" / "java" / "nimbus" / "lambda" / "JsonProbe.java"))
    subprocess.run([javac, "--release", "11", "-d", out, *sources], check=True, timeout=300)

    def run(lines):
        res = subprocess.run(["java", "-cp", out, "nimbus.lambda.JsonProbe"],
                             input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        got = res.stdout.split("\n")[:-1]
        assert len(got) == len(lines), res.stderr[-3000:]
        return got

    yield run
    shutil.rmtree(out, ignore_errors=True)


def _value(rng, depth=0):
    kinds = ["str", "int", "big", "float", "bool", "null"] + (["list", "obj"] * 2 if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        alphabet = "ab \"\\/\n\t\x01é€😀{}[]:,"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
    if kind == "int":
        return rng.randrange(-2**40, 2**40)
    if kind == "big":
        return rng.choice([1, -1]) * rng.randrange(2**63, 2**80)
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    return {f"k{i}{rng.choice('xyé')}": _value(rng, depth + 1) for i in range(rng.randrange(0, 5))}


@pytest.mark.parametrize("seed", [23, 24, 25])
def test_random_documents_round_trip(probe, seed):
    rng = random.Random(seed)
    docs = [_value(rng) for _ in range(3000)]
    lines = [json.dumps(d, ensure_ascii=rng.random() < 0.5) for d in docs]
    for doc, line, got in zip(docs, lines, probe(lines)):
        assert not got.startswith("ERR"), (line, got)
        assert json.loads(got) == doc, line


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_corrupted_documents_are_refused_not_crashed_on(probe, seed):
    rng = random.Random(seed)
    lines = []
    for _ in range(3000):
        text = json.dumps(_value(rng))
        cut = list(text)
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(0, len(cut) + 1)
            op = rng.random()
            if op < 0.4 and cut:
                del cut[min(i, len(cut) - 1)]
            elif op < 0.8:
                cut.insert(i, rng.choice('{}[]",:\\e.-0tfnu'))
            else:
                cut = cut[:i]
        lines.append("".join(cut).replace("\n", " "))
    for line, got in zip(lines, probe(lines)):
        if got.startswith("ERR") or (not line.strip() and got == "null"):
            continue  # refused, or a blank event (no payload), which is null
        # Read as something: then it was JSON (Lambda's reader is lenient about escapes
        # and control characters, which Python's strict reader is not).
        try:
            json.loads(line, strict=False)
        except json.JSONDecodeError:
            if "\\" not in line:
                pytest.fail(f"accepted malformed JSON {line!r} as {got!r}")
