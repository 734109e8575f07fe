"""Load primbench results (Google Benchmark JSON with primbench's context and fields).

Shared by the report, compare and history tools. Every problem with an input file raises
ResultsError with one line naming the file and what is wrong; `cli_main` turns that into
exit status 2 with no traceback.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass, field

TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# Any primitive the harness describes: the tools learn the primitives from the data. The name
# is also a file-name stem and an HTML id in the report, hence the narrow alphabet.
PRIMITIVE_RE = re.compile(r"[a-z0-9_]+")
NAME_RE = re.compile(
    r"^(?P<primitive>[a-z0-9_]+)/(?P<impl>[^/]+)/(?P<dtype>[^/]+)"
    r"(?:/(?P<op>sum|prod|min|max))?/ranks:(?P<ranks>\d{1,18})(?!\d)/count:(?P<count>\d{1,18})(?!\d)(?:/root:(?P<root>\d{1,18}(?!\d)|rotate))?$")
ROOT_ROTATE = -1  # Entry.root of `--root rotate` (root:rotate in the name; the root counter is -1 too)


def root_text(root: int) -> str:
    """A root as the name writes it: the rank, or "rotate"."""
    return "rotate" if root == ROOT_ROTATE else str(root)


class ResultsError(Exception):
    """A results file that cannot be used; the message is one line."""


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


JSON_TYPES = {"a string": lambda v: isinstance(v, str), "a number": _is_number,
              "an array": lambda v: isinstance(v, list), "an object": lambda v: isinstance(v, dict),
              "true or false": lambda v: isinstance(v, bool)}
# The context fields the tools read and the JSON type each must have where present (null is
# absent): checked here once, so that no tool meets a list where it reads an object. A file
# with another type there is corrupt or not primbench's, and is refused like any bad input.
CONTEXT_TYPES = {"date": "a string", "host_name": "a string", "executable": "a string",
                 "library_build_type": "a string", "num_cpus": "a number",
                 "mhz_per_cpu": "a number", "caches": "an array", "primbench": "an object"}
# (machine is a string in primbench's files and any JSON value to the tools, which only print
# it or hash it.)
PRIMBENCH_TYPES = {"version": "a string", "git_revision": "a string", "build_type": "a string",
                   "compiler": "a string", "command_line": "a string", "ceilings": "an object",
                   "backends": "an object", "host": "an object"}
# The entry fields read as strings (numbers are checked where they are read).
ENTRY_STRINGS = ("run_type", "aggregate_name", "primitive", "impl", "dtype", "op", "time_unit",
                 "ceiling", "validation", "reference")


def _json_type(v) -> str:
    return "null" if v is None else next(what for what, test in JSON_TYPES.items() if test(v))


def _check_types(obj: dict, types: dict, where: str, path: str) -> None:
    for key, want in types.items():
        v = obj.get(key)
        if v is not None and not JSON_TYPES[want](v):
            raise ResultsError(f"{path}: {where}{key} is {_json_type(v)}, expected {want}")


@dataclass
class Entry:
    name: str            # run name without aggregate suffix
    primitive: str
    impl: str
    dtype: str
    op: str | None
    ranks: int
    count: int
    root: int
    run_type: str        # "iteration" or "aggregate"
    aggregate_name: str | None
    repetition_index: int | None
    time_s: float | None  # real (manual) time per iteration, seconds; None for failed entries
    iterations: int
    counters: dict = field(default_factory=dict)
    error: str | None = None
    source: str = ""
    validation: str | None = None  # "passed", "failed", "error"; None where the file has none
    ceiling: str | None = None     # the ceiling a timed entry is held against ("host_copy", ...);
                                   # None in files written before the field, and on errors
    reference: str | None = None   # "beside": ref_GBps measured beside the benchmark; "ceiling":
                                   # it is the ceiling; None in files from before 2026-12-05

    @property
    def key(self) -> str:
        return self.name

    @property
    def failed(self) -> bool:
        """An error entry, or one whose validation is other than passed (load sets its error)."""
        return self.error is not None

    @property
    def unvalidated(self) -> bool:
        """No error, but no `validation` field either: primbench writes one on every entry, so
        this is no validated timing (an edited or foreign file). Never a sample, never ranked."""
        return self.error is None and self.validation is None

    @property
    def timed(self) -> bool:
        """A validated timing: no error and validation passed."""
        return self.error is None and self.validation == "passed"


UNVALIDATED = "no validation recorded: not a validated timing (primbench writes 'validation' on every entry)"


@dataclass
class Results:
    path: str
    context: dict
    entries: list
    digest: str = ""  # sha256 of the file's bytes

    @property
    def primbench(self) -> dict:
        """context.primbench: an object (load checked its type and its fields'), {} if absent."""
        return self.context.get("primbench") or {}

    def samples(self) -> dict:
        """Per-repetition times (seconds) of each passing benchmark, keyed by name; an entry
        without a validation is no timing."""
        out: dict = {}
        for e in self.entries:
            if e.run_type == "iteration" and e.timed and e.time_s is not None:
                out.setdefault(e.name, []).append(e.time_s)
        return out

    def failures(self) -> dict:
        return {e.name: e.error for e in self.entries if e.failed}

    def unvalidated(self) -> set:
        """Names of the benchmarks with an entry that records no validation (Entry.unvalidated)."""
        return {e.name for e in self.entries if e.unvalidated}

    @property
    def options(self) -> dict | None:
        """context.primbench.options, the options that decide what a result means; None where
        the file records none (written before primbench recorded them)."""
        o = self.primbench.get("options")
        return o if isinstance(o, dict) else None

    @property
    def cpu_model(self):
        """The CPU part of context.primbench.machine ("host name / CPU model"); the whole value
        where it has no " / "; None where the file records no machine."""
        m = self.primbench.get("machine")
        if isinstance(m, str):
            return m.split(" / ", 1)[1].strip() if " / " in m else m.strip()
        return None if m is None else json.dumps(m, sort_keys=True)


# Options of context.primbench.options that change how many samples a run takes, not what one
# means: files that differ only in these are compared. Every other option (cache, hugepages,
# check, check-iterations, check-budget, min-time, warmup, validate, and any this tool does not
# know) must be the same, and present in all or none of them.
SAMPLE_COUNT_OPTIONS = frozenset({"seed", "repetitions", "rse", "rse-max-time", "aggregates-only"})


def options_differ(a: dict, b: dict) -> list:
    """The options that change what a timing means and differ between two files' option records
    (a key present in one only differs): ["cache (hot, cold)", ...], sorted."""
    missing = object()
    out = []
    for key in sorted((set(a) | set(b)) - SAMPLE_COUNT_OPTIONS):
        va, vb = a.get(key, missing), b.get(key, missing)
        if va != vb:
            show = lambda v: "absent" if v is missing else json.dumps(v)
            out.append(f"{key} ({show(va)} vs {show(vb)})")
    return out


def check_alike(sources: list, across_machines: bool = False, note=None) -> None:
    """Refuse (ResultsError) results files whose timings do not mean the same: options that change
    what a timing means differ (options_differ), or, unless across_machines, the CPU model does.
    Files that record no options are let through, with one note (note(text)) naming them."""
    with_opts = [r for r in sources if r.options is not None]
    without = [r.path for r in sources if r.options is None]
    if without and note is not None:
        note(f"{len(without)} file(s) record no options (written before primbench recorded them), "
             f"so whether they were run alike is not checked: {', '.join(without)}")
    for r in with_opts[1:]:
        diff = options_differ(with_opts[0].options, r.options)
        if diff:
            raise ResultsError(f"{with_opts[0].path} and {r.path} were run with different options: "
                               f"{'; '.join(diff)}; their timings do not measure the same thing")
    if not across_machines:
        cpus = [r for r in sources if r.cpu_model is not None]
        for r in cpus[1:]:
            if r.cpu_model != cpus[0].cpu_model:
                raise ResultsError(f"{cpus[0].path} and {r.path} were measured on different CPUs "
                                   f"({cpus[0].cpu_model} vs {r.cpu_model}); give --across-machines "
                                   "to compare them anyway")


def check_distinct(sources: list) -> None:
    """Refuse a results file given twice (the same file, or a copy with the same bytes): its
    samples would count twice as independent runs."""
    seen: dict = {}
    for r in sources:
        key = r.digest or os.path.realpath(r.path)
        if key in seen:
            raise ResultsError(f"{r.path}: given twice (the same file or identical content as "
                               f"{seen[key]}); each run counts once")
        seen[key] = r.path


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file: the same real path, or (both existing) one inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(outputs: list, inputs: list, what: str) -> None:
    """Refuse, before anything is written, an output (flag, path) that is empty, one of the
    inputs, or the same file as an earlier output: `what` (e.g. "the export") would replace it."""
    for i, (flag, out) in enumerate(outputs):
        if not out:
            raise ResultsError(f"{flag}: empty file name")
        for p in inputs:
            if same_file(p, out):
                raise ResultsError(f"{out}: is one of the inputs; {what} would replace the results")
        for flag2, out2 in outputs[:i]:
            if same_file(out, out2):
                raise ResultsError(f"{out}: given to both {flag2} and {flag}; the second would "
                                   "replace the first")


def _num(v, what, path):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ResultsError(f"{path}: {what} is not a number")
    try:
        f = float(v)  # an integer of hundreds of digits does not fit
    except OverflowError:
        f = math.inf
    if not math.isfinite(f) or f < 0:
        raise ResultsError(f"{path}: {what} is {str(v)[:40]}, expected a finite non-negative number")
    return v


def _entry(b: dict, path: str, i: int) -> Entry:
    if not isinstance(b, dict) or not isinstance(b.get("name"), str):
        raise ResultsError(f"{path}: benchmarks[{i}] has no name; not Google Benchmark JSON")
    run_name = b.get("run_name", b["name"])
    if not isinstance(run_name, str):
        raise ResultsError(f"{path}: benchmarks[{i}] has a run_name that is not a string")
    for key in ENTRY_STRINGS:
        if b.get(key) is not None and not isinstance(b[key], str):
            raise ResultsError(f"{path}: benchmark '{b['name']}' has a {key} that is not a string")
    if b.get("error_occurred") is not None and not isinstance(b["error_occurred"], bool):
        raise ResultsError(f"{path}: benchmark '{b['name']}' has an error_occurred that is not "
                           "true or false")
    if run_name.endswith("/manual_time"):
        run_name = run_name[: -len("/manual_time")]
    m = NAME_RE.match(run_name)
    if not m:
        raise ResultsError(f"{path}: benchmark '{b['name']}' is not a primbench name "
                           "(primitive/impl/dtype[/op]/ranks:P/count:N[/root:R|rotate])")
    primitive = b.get("primitive") or m.group("primitive")  # null or absent: the name's
    if not PRIMITIVE_RE.fullmatch(primitive):
        raise ResultsError(f"{path}: benchmark '{b['name']}' has primitive '{primitive[:40]}' "
                           "(expected lower-case letters, digits and _)")
    if b.get("run_type", "iteration") not in ("iteration", "aggregate"):
        raise ResultsError(f"{path}: benchmark '{b['name']}' has run_type '{b['run_type']}' "
                           "(Google Benchmark writes iteration or aggregate)")
    error = b.get("error_message") if b.get("error_occurred") else None
    if b.get("error_occurred") and not error:
        error = "error"
    if error is not None and not isinstance(error, str):
        error = json.dumps(error)
    validation = b.get("validation")
    if error is None and validation not in (None, "passed"):
        # A validation that failed (or could not finish) is a failure whether or not the entry
        # also says error_occurred: never a timing, in any tool.
        msg = b.get("error_message")
        error = msg if isinstance(msg, str) and msg else f"validation {validation}"
    time_s = None
    if error is None:
        unit = b.get("time_unit", "ns")
        if unit not in TIME_UNITS:
            raise ResultsError(f"{path}: benchmark '{b['name']}' has unknown time_unit '{unit}'")
        time_s = float(_num(b.get("real_time"), f"real_time of '{b['name']}'", path)) * TIME_UNITS[unit]
        if not math.isfinite(time_s * 1e9):
            raise ResultsError(f"{path}: real_time of '{b['name']}' is too large to be a time")
        if b.get("run_type", "iteration") == "iteration" and not time_s > 0:
            # A passing repetition took time: primbench never writes one that did not (below 1 ns
            # an iteration is an error entry); an edited or foreign file's 0 would read as infinitely fast.
            raise ResultsError(f"{path}: benchmark '{b['name']}' passed with a real_time of {b.get('real_time')}: "
                               "a repetition takes time")
    counters = {k: v for k, v in b.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
                and k not in ("real_time", "cpu_time", "iterations", "repetitions",
                              "repetition_index", "threads", "family_index",
                              "per_family_instance_index")}
    for k, v in counters.items():
        try:
            finite = math.isfinite(float(v))
        except OverflowError:
            finite = False
        if not finite:
            raise ResultsError(f"{path}: counter {k} of '{b['name']}' is not a finite number")
    root = ROOT_ROTATE if m.group("root") == "rotate" else m.group("root")
    if root is None:    # a name without its root: the counter, else 0
        v = counters.get("root")
        root = v if v is not None and float(v).is_integer() else 0
    return Entry(
        name=run_name,
        primitive=primitive,
        impl=b.get("impl") or m.group("impl"),      # null or absent: the name's
        dtype=b.get("dtype") or m.group("dtype"),
        op=b.get("op", m.group("op")),
        ranks=int(m.group("ranks")),
        count=int(m.group("count")),
        root=int(root),
        run_type=b.get("run_type", "iteration"),
        aggregate_name=b.get("aggregate_name"),
        repetition_index=None if b.get("repetition_index") is None
        else int(_num(b["repetition_index"], f"repetition_index of '{b['name']}'", path)),
        time_s=time_s,
        iterations=int(_num(b.get("iterations", 0) or 0, f"iterations of '{b['name']}'", path)),
        counters=counters,
        error=error,
        source=path,
        validation=validation,
        ceiling=b.get("ceiling"),
        reference=b.get("reference"),
    )


def load(path: str) -> Results:
    """Read one results file; raises ResultsError (one line) on anything unusable."""
    try:
        # Only a regular file: a FIFO without a writer would block, /dev/zero never end.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ResultsError(f"{path}: is not a regular file (a directory, device, FIFO or socket)")
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ResultsError(f"{path}: cannot read: {e.strerror}") from None
    if not raw.strip():
        raise ResultsError(f"{path}: file is empty; expected primbench JSON")
    try:
        doc = json.loads(raw.decode("utf-8"),
                         parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ResultsError(f"{path}: not valid JSON (truncated or corrupt?): {msg}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list) \
            or not isinstance(doc.get("context"), dict):
        raise ResultsError(f"{path}: not Google Benchmark JSON (needs 'context' and 'benchmarks')")
    _check_types(doc["context"], CONTEXT_TYPES, "context.", path)
    if doc["context"].get("primbench") is not None:
        _check_types(doc["context"]["primbench"], PRIMBENCH_TYPES, "context.primbench.", path)
    entries = [_entry(b, path, i) for i, b in enumerate(doc["benchmarks"])]
    seen = set()
    for e in entries:  # one repetition counted twice would be a sample counted twice
        if e.run_type == "iteration" and e.repetition_index is not None:
            if (e.name, e.repetition_index) in seen:
                raise ResultsError(f"{path}: benchmark '{e.name}' has repetition {e.repetition_index} twice")
            seen.add((e.name, e.repetition_index))
    return Results(path=path, context=doc["context"], entries=entries,
                   digest=hashlib.sha256(raw).hexdigest())


def write_atomic(path: str, text: str) -> None:
    """Write text to path through a temporary file in the same directory and rename(2), so a
    reader never sees half a file. A symlink's target is written and the link kept; the file
    gets the usual umask-derived mode. Raises ResultsError (one line) when it cannot."""
    target = os.path.realpath(path)
    d = os.path.dirname(target)
    tmp = None
    try:
        if os.path.isdir(target):
            raise IsADirectoryError(21, "Is a directory")
        if os.path.exists(target) and not os.path.isfile(target):
            # Renaming over /dev/null (as root) would replace the device for the whole machine.
            raise ResultsError(f"{path}: is not a regular file (a device, FIFO or socket); "
                               "results are written only to regular files")
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".primbench-")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        raise ResultsError(f"{path}: cannot write: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


class ArgParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr, '(hint)' appended, exit status 2."""

    def __init__(self, *args, hint: str = "see --help", **kwargs):
        super().__init__(*args, **kwargs)
        self.hint = hint

    def error(self, message):
        self.exit(2, f"error: {message} ({self.hint})\n")


def cli_main(main) -> None:
    """Run main(argv); ResultsError becomes one line on stderr and exit status 2."""
    try:
        sys.exit(main(sys.argv[1:]))
    except ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
