"""Deterministic mutation fuzzer for the Python results loader (reports/results.py).

Every mutated input must either load or raise ResultsError: any other exception is a bug (the
tools would print a traceback instead of one line and exit status 2). Mutations work on bytes
(flips, truncation, splices of hostile tokens) and on the parsed document (a value anywhere
replaced by one of the wrong type, NaN, negative or huge). Seeded, so a failure reproduces:

    python3 tests/fuzz/fuzz_results.py [--iterations N] [--seed S]

The failing input is written to build/fuzz/results-crash.json.
"""
import argparse
import glob
import json
import os
import random
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "reports"))

from results import ResultsError, load  # noqa: E402

HOSTILE_VALUES = [None, True, False, 0, -1, -1e300, 1e308, 2**70, -(2**70), 0.5, "", "x", "NaN", "ns",
                  "1e999", [], [1], {}, {"a": 1}, "gather/seq.ref/f32/ranks:1/count:1/root:0",
                  "gather/x/f32/ranks:99999999999999999999/count:1", "\u0000"]
HOSTILE_TOKENS = [b"NaN", b"-Infinity", b"Infinity", b"-1", b"1e999", b"-1e999", b"null", b"[]", b"{}",
                  b'"', b"\\", b"\\u0000", b"\\ud800", b"\xff\xfe", b"9" * 5000, b"[" * 3000, b"{\"a\":" * 2000,
                  b",", b":", b"true", b"\"time_unit\": \"ps\"", b"\"real_time\": NaN", b"\"real_time\": -5"]


def paths(doc, prefix=()):
    """Every (path) to a value in doc."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, prefix + (i,))


def set_path(doc, path, value):
    if not path:
        return value
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


def mutate_doc(rng, doc):
    doc = json.loads(json.dumps(doc))
    all_paths = list(paths(doc))
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(all_paths)
        try:
            doc = set_path(doc, path, rng.choice(HOSTILE_VALUES))
        except (KeyError, IndexError, TypeError):
            pass  # the path went away with an earlier mutation
        all_paths = list(paths(doc))
    text = json.dumps(doc, allow_nan=True)  # NaN and Infinity as Google Benchmark writes them
    return text.encode("utf-8", "surrogatepass")


def mutate_bytes(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(4)
        pos = rng.randrange(len(data) + 1)
        if kind == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[pos:]
        elif kind == 2:
            data[pos:pos] = rng.choice(HOSTILE_TOKENS)
        else:
            end = min(len(data), pos + rng.randrange(1, 64))
            del data[pos:end]
    return bytes(data)


def check(path):
    try:
        r = load(path)
    except ResultsError as e:
        if "\n" in str(e):
            raise AssertionError(f"ResultsError of more than one line: {e!r}")
        return
    r.samples()
    r.failures()
    _ = r.primbench
    for e in r.entries:
        _ = (e.key, e.failed)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "fuzz"))
    args = ap.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    seeds = []
    for p in sorted(glob.glob(os.path.join(HERE, "corpus", "results", "*.json"))):
        with open(p, "rb") as f:
            seeds.append(f.read())
    docs = [json.loads(s) for s in seeds]
    rng = random.Random(args.seed)
    sample = os.path.join(args.work, "results-input.json")
    for i in range(args.iterations):
        data = mutate_doc(rng, rng.choice(docs)) if i % 2 else mutate_bytes(rng, rng.choice(seeds))
        with open(sample, "wb") as f:
            f.write(data)
        try:
            check(sample)
        except Exception:  # noqa: BLE001 - anything but ResultsError is the bug we look for
            crash = os.path.join(args.work, "results-crash.json")
            os.replace(sample, crash)
            traceback.print_exc()
            print(f"fuzz_results: iteration {i} (seed {args.seed}) escaped the loader; input: {crash}",
                  file=sys.stderr)
            return 1
    print(f"fuzz_results: {args.iterations} inputs, all loaded or refused with ResultsError")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
