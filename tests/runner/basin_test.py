#!/usr/bin/env python3
"""Basin's declarative scenario runner (.test files, in the style of DuckDB's sqllogictest).

    python3 tests/runner/basin_test.py --basin build/basin tests/scenarios/ingest_basics.test ...

For each file: a fresh temporary data dir, `basin serve --port 0` on 127.0.0.1, the file's steps
in order, SIGTERM (which must exit 0 within 30 s), and the directory removed. Failing steps are
printed with file:line, expected and actual; the last line is `N passed, N failed`, and the exit
status is non-zero on any failure. The format is documented in docs/testing.md.

Python 3.11 standard library only. Server start/stop and HTTP come from tests/e2e/basin_harness.py.
"""

from __future__ import annotations

import argparse
import decimal
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field, replace

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import basin_harness as harness  # noqa: E402

# Statuses the contract gives for error codes; `expect error CODE` without a status checks these.
# A code not listed here needs an explicit status, or only "an error status (>= 400)" is checked.
CONTRACT_STATUS = {
    "MalformedBody": 400,
    "MalformedJson": 400,
    "PayloadTooLarge": 413,
    "RecordTooLarge": 413,
    "DecompressedTooLarge": 413,
    "StreamNotFound": 404,
    "SqlError": 400,
    "AccessDenied": 403,
    "Unavailable": 503,
    "DiskFull": 503,
}

MAX_GENERATED_BODY = 512 << 20
MAX_FAILURE_REPORTS_PER_FILE = 25

# ----------------------------------------------------------------------------------------------
# JSON with numbers kept as their text
# ----------------------------------------------------------------------------------------------


class JsonNumber:
    """A JSON number as written in the document. Compares by numeric value."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def value(self) -> decimal.Decimal:
        return decimal.Decimal(self.text)

    def __eq__(self, other):
        if isinstance(other, JsonNumber):
            return self.value() == other.value()
        return NotImplemented

    def __hash__(self):
        return hash(self.value())

    def __repr__(self):
        return self.text


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def loads_exact(text: str | bytes):
    """json.loads, but numbers become JsonNumber (their exact text) and NaN/Infinity are errors."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber,
                      parse_constant=_reject_constant)


def dumps_exact(value) -> str:
    """Compact JSON text of a loads_exact value (numbers as their original text)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, JsonNumber):
        return value.text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(dumps_exact(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + dumps_exact(v)
                              for k, v in value.items()) + "}"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    raise TypeError(f"not a JSON value: {value!r}")


def json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (JsonNumber, int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _num(value) -> decimal.Decimal:
    if isinstance(value, JsonNumber):
        return value.value()
    return decimal.Decimal(str(value))


def json_subset_mismatch(expected, actual, path: str = "$") -> str | None:
    """None when `expected` matches `actual` as a subset, else where and how they differ.

    Objects: every key of `expected` must be in `actual` with a matching value (extra keys in
    `actual` are fine). Arrays: the same length, and each element matches element-wise.
    Numbers compare by value (1, 1.0 and 1e0 are equal); other scalars by type and value.
    """
    ek, ak = json_kind(expected), json_kind(actual)
    if ek != ak:
        return f"{path}: expected {ek} {dumps_exact(expected)}, got {ak} {_short(actual)}"
    if ek == "object":
        for key, evalue in expected.items():
            if key not in actual:
                return f"{path}: missing key {json.dumps(key)} (object has " \
                       f"{', '.join(json.dumps(k) for k in actual) or 'no keys'})"
            problem = json_subset_mismatch(evalue, actual[key], f"{path}.{key}")
            if problem:
                return problem
        return None
    if ek == "array":
        if len(expected) != len(actual):
            return f"{path}: expected an array of {len(expected)} elements, got " \
                   f"{len(actual)}: {_short(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            problem = json_subset_mismatch(e, a, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if ek == "number":
        if _num(expected) != _num(actual):
            return f"{path}: expected {dumps_exact(expected)}, got {dumps_exact(actual)}"
        return None
    if expected != actual:
        return f"{path}: expected {dumps_exact(expected)}, got {dumps_exact(actual)}"
    return None


def _short(value, limit: int = 300) -> str:
    text = dumps_exact(value)
    return text if len(text) <= limit else text[:limit] + "..."


def value_text(value) -> str:
    """A result cell as text: NULL for null, numbers as their JSON text, strings raw (the empty
    string as `(empty)`), booleans true/false, arrays and objects as compact JSON."""
    if value is None:
        return "NULL"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, JsonNumber):
        return value.text
    if isinstance(value, str):
        return value if value != "" else "(empty)"
    return dumps_exact(value)


# ----------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------


class ParseError(Exception):
    def __init__(self, file: str, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


@dataclass
class Step:
    kind: str                 # http statement query sql flush restart kill sleep loop foreach
    file: str
    line: int                 # 1-based line of the step's first line
    header: str               # the first line
    body: list[str] = field(default_factory=list)           # lines before ----
    expected: list[str] | None = None                        # lines after ---- (None: no ----)
    children: list["Step"] = field(default_factory=list)    # loop / foreach body
    var: str = ""             # loop / foreach variable
    values: list[str] = field(default_factory=list)          # loop / foreach values

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def substituted(self, env: dict[str, str]) -> "Step":
        if not env:
            return self
        return replace(self, header=substitute(self.header, env),
                       body=[substitute(x, env) for x in self.body],
                       expected=None if self.expected is None
                       else [substitute(x, env) for x in self.expected])


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(text: str, env: dict[str, str]) -> str:
    """Replaces ${name} for every name in env; other ${...} stay as written."""
    if "${" not in text:
        return text
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


RECORD_KINDS = ("http", "statement", "query", "sql")
SINGLE_LINE_KINDS = ("flush", "restart", "kill", "sleep")


def parse_text(text: str, file: str = "<text>") -> list[Step]:
    """Parses a .test file into steps (loops hold their steps as children) and validates every
    step with the first value of each enclosing loop. Raises ParseError."""
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    root: list[Step] = []
    stack: list[tuple[Step | None, list[Step]]] = [(None, root)]
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        lineno = i + 1
        tokens = stripped.split()
        kind = tokens[0]
        current = stack[-1][1]
        if kind == "loop":
            if len(tokens) != 4:
                raise ParseError(file, lineno, "expected `loop VAR START END`")
            var = tokens[1]
            _check_var_name(file, lineno, var)
            try:
                start, end = int(tokens[2]), int(tokens[3])
            except ValueError:
                raise ParseError(file, lineno, "loop bounds must be integers") from None
            if end < start:
                raise ParseError(file, lineno, f"loop end {end} is below its start {start}")
            step = Step("loop", file, lineno, line, var=var,
                        values=[str(v) for v in range(start, end)])
            current.append(step)
            stack.append((step, step.children))
            i += 1
            continue
        if kind == "foreach":
            if len(tokens) < 3:
                raise ParseError(file, lineno, "expected `foreach VAR VALUE [VALUE ...]`")
            _check_var_name(file, lineno, tokens[1])
            step = Step("foreach", file, lineno, line, var=tokens[1], values=tokens[2:])
            current.append(step)
            stack.append((step, step.children))
            i += 1
            continue
        if kind == "endloop":
            if len(tokens) != 1:
                raise ParseError(file, lineno, "`endloop` takes no arguments")
            if len(stack) == 1:
                raise ParseError(file, lineno, "`endloop` without `loop` or `foreach`")
            stack.pop()
            i += 1
            continue
        if kind in SINGLE_LINE_KINDS:
            step = Step(kind, file, lineno, line)
            current.append(step)
            i += 1
            continue
        if kind in RECORD_KINDS:
            j = i + 1
            while j < n and lines[j].strip() != "":
                j += 1
            record = lines[i + 1: j]
            body, expected = record, None
            separators = [k for k, x in enumerate(record) if x.strip() == "----"]
            if separators:
                k = separators[0]
                body, expected = record[:k], record[k + 1:]
            step = Step(kind, file, lineno, line, body=body, expected=expected)
            current.append(step)
            i = j
            continue
        raise ParseError(file, lineno, f"unknown command {kind!r}")
    if len(stack) > 1:
        opened = stack[-1][0]
        raise ParseError(file, opened.line, f"`{opened.kind}` without `endloop`")
    _validate(root, {"TEST_DIR": "/tmp/basin-scenario-validation"})
    return root


def parse_file(path: str) -> list[Step]:
    with open(path, "r", encoding="utf-8") as f:
        return parse_text(f.read(), path)


def _check_var_name(file: str, line: int, name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ParseError(file, line, f"bad variable name {name!r}")


def _validate(steps: list[Step], env: dict[str, str]) -> None:
    for step in steps:
        if step.kind in ("loop", "foreach"):
            if step.values:
                _validate(step.children, {**env, step.var: step.values[0]})
            else:
                _validate(step.children, {**env, step.var: "0"})
            continue
        build_spec(step.substituted(env))


# ----------------------------------------------------------------------------------------------
# Step specifications (built from a step after ${var} substitution)
# ----------------------------------------------------------------------------------------------


@dataclass
class ErrorExpectation:
    codes: list[str]          # any of these error.code values (empty: any code)
    status: int | str | None  # explicit status (413) or class ("4xx"); None: the contract's
                              # status for the code returned (CONTRACT_STATUS), or any >= 400

    def required_status(self, actual_code: str | None) -> int | str | None:
        if self.status is not None:
            return self.status
        if actual_code in self.codes and actual_code in CONTRACT_STATUS:
            return CONTRACT_STATUS[actual_code]
        statuses = {CONTRACT_STATUS.get(c) for c in self.codes}
        if len(statuses) == 1 and None not in statuses:
            return statuses.pop()
        return None


@dataclass
class HttpSpec:
    method: str
    path: str
    headers: list[tuple[str, str]]
    gzip: bool
    ndjson: bool
    body_lines: list[str]
    status: int | None = None                 # None: any 2xx
    error: ErrorExpectation | None = None
    json_expected: object = None
    has_json_expected: bool = False
    contains: list[str] = field(default_factory=list)
    header_checks: list[tuple[str, str]] = field(default_factory=list)
    exact: str | None = None


@dataclass
class StatementSpec:
    sql: str
    ok: bool
    error: ErrorExpectation | None = None
    message: str | None = None


@dataclass
class QuerySpec:
    sql: str
    types: str
    rowsort: bool
    rows: list[list[str]]


@dataclass
class OfflineSqlSpec:
    sql: str
    error: bool
    types: str = ""
    rowsort: bool = False
    rows: list[list[str]] = field(default_factory=list)
    message: str | None = None


@dataclass
class SimpleSpec:
    kind: str
    millis: int = 0


_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*:")
_CODE = re.compile(r"[A-Z][A-Za-z0-9]*")


def build_spec(step: Step):
    """The spec of a (substituted) step; raises ParseError when the step is malformed."""
    def err(msg: str, offset: int = 0) -> ParseError:
        return ParseError(step.file, step.line + offset, msg)

    tokens = step.header.split()
    kind = step.kind
    if kind in ("flush", "restart", "kill"):
        if len(tokens) != 1:
            raise err(f"`{kind}` takes no arguments")
        return SimpleSpec(kind)
    if kind == "sleep":
        if len(tokens) != 2 or not tokens[1].isdigit():
            raise err("expected `sleep MILLISECONDS`")
        return SimpleSpec(kind, int(tokens[1]))
    if kind == "http":
        return _build_http(step, tokens, err)
    if kind == "statement":
        return _build_statement(step, tokens, err)
    if kind == "query":
        return _build_query(step, tokens, err)
    if kind == "sql":
        return _build_offline_sql(step, tokens, err)
    raise err(f"unknown command {kind!r}")


def _parse_error_expectation(words: list[str], err) -> ErrorExpectation:
    """words: [STATUS] [CODE[|CODE...]] (both optional)."""
    status = None
    codes: list[str] = []
    rest = list(words)
    if rest and re.fullmatch(r"\d{3}|[45]xx", rest[0]):
        token = rest.pop(0)
        status = token if token.endswith("xx") else int(token)
        if isinstance(status, int) and status < 400:
            raise err(f"an error status must be >= 400, not {status}")
    if rest:
        codes = rest.pop(0).split("|")
        for c in codes:
            if not _CODE.fullmatch(c):
                raise err(f"bad error code {c!r} (codes are stable names like StreamNotFound)")
    if rest:
        raise err(f"unexpected {' '.join(rest)!r} after the error code")
    return ErrorExpectation(codes, status)


def _build_http(step: Step, tokens: list[str], err) -> HttpSpec:
    if len(tokens) < 3:
        raise err("expected `http METHOD PATH [gzip] [ndjson] [Header: value ...]`")
    method, path = tokens[1], tokens[2]
    if not re.fullmatch(r"[A-Z]+", method):
        raise err(f"bad HTTP method {method!r}")
    if not path.startswith("/"):
        raise err(f"the path must start with '/': {path!r}")
    gz = nd = False
    headers: list[tuple[str, list[str]]] = []
    for tok in tokens[3:]:
        if _HEADER_NAME.fullmatch(tok):
            headers.append((tok[:-1], []))
        elif headers:
            headers[-1][1].append(tok)
        elif tok == "gzip":
            gz = True
        elif tok == "ndjson":
            nd = True
        else:
            raise err(f"unexpected {tok!r}: modifiers are `gzip` and `ndjson`, headers are "
                      "`Name: value`")
    header_list = [(k, " ".join(v)) for k, v in headers]
    for k, v in header_list:
        if not v:
            raise err(f"header {k!r} has no value")
    spec = HttpSpec(method, path, header_list, gz, nd, list(step.body))
    for idx, line in enumerate(step.body):
        _check_body_directive(line, lambda m, idx=idx: err(m, 1 + idx))

    if step.expected is None:
        return spec
    exp = step.expected
    offset = 1 + len(step.body) + 1  # line offset of the first expected line
    if not exp:
        raise err("`----` must be followed by a status line", offset - 1)
    first = exp[0].split()
    if first[:2] == ["expect", "error"]:
        spec.error = _parse_error_expectation(first[2:], lambda m: err(m, offset))
        spec.status = spec.error.status
    elif len(first) == 1 and re.fullmatch(r"\d{3}", first[0]):
        spec.status = int(first[0])
    else:
        raise err(f"expected a status (e.g. 200) or `expect error [STATUS] CODE`, got "
                  f"{exp[0]!r}", offset)
    k = 1
    while k < len(exp):
        line = exp[k]
        s = line.strip()
        if s.startswith("header "):
            m = re.fullmatch(r"header\s+([A-Za-z0-9-]+):\s*(.*)", s)
            if not m:
                raise err("expected `header Name: value`", offset + k)
            spec.header_checks.append((m.group(1), m.group(2)))
            k += 1
        elif s.startswith("contains "):
            spec.contains.append(line.split("contains ", 1)[1])
            k += 1
        elif s == "exact":
            spec.exact = "\n".join(exp[k + 1:])
            k = len(exp)
        elif s.startswith("{") or s.startswith("["):
            text = "\n".join(exp[k:])
            try:
                spec.json_expected = loads_exact(text)
            except ValueError as e:
                raise err(f"expected JSON is not valid JSON: {e}", offset + k) from None
            spec.has_json_expected = True
            k = len(exp)
        else:
            raise err(f"unexpected line in the expected response: {line!r} (use `header`, "
                      "`contains`, `exact` or a JSON document)", offset + k)
    return spec


def _check_body_directive(line: str, err) -> None:
    if line.startswith("@") and not line.startswith("@@"):
        if not re.fullmatch(r"@(repeat|lines) \d+ .*", line.rstrip("\\")):
            raise err("body directives are `@repeat N TEXT` and `@lines N TEXT` "
                      "(write `@@` for a literal `@`)")


def _sql_text(step: Step, err) -> str:
    sql = "\n".join(step.body).strip()
    if not sql:
        raise err("missing SQL")
    return sql


def _build_statement(step: Step, tokens: list[str], err) -> StatementSpec:
    if len(tokens) >= 2 and tokens[1] == "ok":
        if len(tokens) != 2:
            raise err("`statement ok` takes no arguments")
        if step.expected is not None:
            raise err("`statement ok` has no `----` section")
        return StatementSpec(_sql_text(step, err), ok=True)
    if len(tokens) >= 2 and tokens[1] == "error":
        expectation = _parse_error_expectation(tokens[2:], err)
        message = None
        if step.expected is not None:
            message = "\n".join(step.expected).strip() or None
        return StatementSpec(_sql_text(step, err), ok=False, error=expectation, message=message)
    raise err("expected `statement ok` or `statement error [STATUS] [CODE]`")


def _parse_types_and_options(tokens: list[str], err) -> tuple[str, bool]:
    if len(tokens) < 2 or not re.fullmatch(r"[ITR]+", tokens[1]):
        raise err(f"expected `{tokens[0]} TYPES [rowsort|nosort]` with TYPES made of I, R, T")
    rowsort = False
    for opt in tokens[2:]:
        if opt == "rowsort":
            rowsort = True
        elif opt == "nosort":
            rowsort = False
        else:
            raise err(f"unknown option {opt!r} (rowsort, nosort)")
    return tokens[1], rowsort


def _parse_rows(step: Step, types: str, err) -> list[list[str]]:
    if step.expected is None:
        raise err("missing `----` and the expected rows")
    rows = []
    offset = 1 + len(step.body) + 1
    for k, line in enumerate(step.expected):
        values = line.split("\t")
        if len(values) != len(types):
            hint = " (are the values separated by tabs? editors sometimes turn them into " \
                   "spaces)" if len(values) == 1 and len(types) > 1 else ""
            raise err(f"expected row has {len(values)} tab-separated values, but the query "
                      f"declares {len(types)} columns{hint}", offset + k)
        rows.append(values)
    return rows


def _build_query(step: Step, tokens: list[str], err) -> QuerySpec:
    types, rowsort = _parse_types_and_options(tokens, err)
    return QuerySpec(_sql_text(step, err), types, rowsort, _parse_rows(step, types, err))


def _build_offline_sql(step: Step, tokens: list[str], err) -> OfflineSqlSpec:
    if len(tokens) >= 2 and tokens[1] == "error":
        if len(tokens) != 2:
            raise err("`sql error` takes no arguments")
        message = None
        if step.expected is not None:
            message = "\n".join(step.expected).strip() or None
        return OfflineSqlSpec(_sql_text(step, err), error=True, message=message)
    types, rowsort = _parse_types_and_options(tokens, err)
    return OfflineSqlSpec(_sql_text(step, err), error=False, types=types, rowsort=rowsort,
                          rows=_parse_rows(step, types, err))


# ----------------------------------------------------------------------------------------------
# Request bodies
# ----------------------------------------------------------------------------------------------


def _iter_directive(line: str):
    """The bytes of a `@repeat` / `@lines` line, in chunks (large bodies are never built twice)."""
    m = re.fullmatch(r"@(repeat|lines) (\d+) (.*)", line, re.S)
    assert m, line
    kind, count, text = m.group(1), int(m.group(2)), m.group(3)
    sep = "" if kind == "repeat" else "\n"
    if count * (len(text.encode()) + len(sep)) > MAX_GENERATED_BODY:
        raise ValueError(f"@{kind} would generate more than {MAX_GENERATED_BODY} bytes")
    if count == 0:
        return
    if "${rep}" in text:
        buf: list[str] = []
        for k in range(1, count + 1):
            buf.append(text.replace("${rep}", str(k)))
            if k < count:
                buf.append(sep)
            if len(buf) >= 8192:
                yield "".join(buf).encode("utf-8")
                buf = []
        if buf:
            yield "".join(buf).encode("utf-8")
        return
    piece = (text + sep).encode("utf-8")
    per_chunk = max(1, (1 << 20) // max(1, len(piece)))
    remaining = count - 1
    while remaining > 0:
        n = min(per_chunk, remaining)
        yield piece * n
        remaining -= n
    yield text.encode("utf-8")


def iter_body(lines: list[str]):
    """The body of an http step as chunks of bytes; see render_body."""
    for idx, raw in enumerate(lines):
        joined = raw.endswith("\\")
        line = raw[:-1] if joined else raw
        if line.startswith("@@"):
            yield line[1:].encode("utf-8")
        elif line.startswith("@"):
            yield from _iter_directive(line)
        else:
            yield line.encode("utf-8")
        if idx < len(lines) - 1 and not joined:
            yield b"\n"


def render_body(lines: list[str]) -> bytes:
    """Body lines joined by newlines; a line ending in `\\` joins the next without a newline;
    `@repeat N TEXT` is TEXT N times, `@lines N TEXT` is N lines of TEXT (`${rep}` in TEXT is the
    copy number, 1..N); `@@` at the start of a line is a literal `@`."""
    return b"".join(iter_body(lines))


def http_request_parts(spec: HttpSpec) -> tuple[bytes, list[tuple[str, str]]]:
    """The body bytes and headers of an http step (the step's headers first)."""
    chunks = iter_body(spec.body_lines)
    if spec.gzip:
        # Compressed as it is generated, so a gzip bomb never exists uncompressed in memory.
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        parts = []
        size = 0
        last = b""
        for chunk in chunks:
            if chunk:
                parts.append(z.compress(chunk))
                size += len(chunk)
                last = chunk
        if spec.ndjson and size and not last.endswith(b"\n"):
            parts.append(z.compress(b"\n"))
            size += 1
        parts.append(z.flush())
        body = b"".join(parts)
        has_body = size > 0
    else:
        body = b"".join(chunks)
        if spec.ndjson and body and not body.endswith(b"\n"):
            body += b"\n"
        has_body = bool(body)
    headers = list(spec.headers)
    names = {k.lower() for k, _ in headers}
    if "content-type" not in names and (has_body or spec.ndjson):
        headers.append(("Content-Type",
                        "application/x-ndjson" if spec.ndjson else "application/json"))
    if spec.gzip and "content-encoding" not in names:
        headers.append(("Content-Encoding", "gzip"))
    return body, headers


# ----------------------------------------------------------------------------------------------
# Checking responses
# ----------------------------------------------------------------------------------------------


def _resp_json(resp: harness.HttpResponse):
    try:
        return loads_exact(resp.body), None
    except (ValueError, UnicodeDecodeError) as e:
        return None, f"response body is not JSON ({e}): {resp.describe(500)}"


def check_error_response(resp: harness.HttpResponse, expectation: ErrorExpectation) -> list[str]:
    """Checks an error answer: the shape {"error":{"code":...,"message":...}}, the code, and the
    status (explicit, or the contract's status for the code returned, or at least >= 400)."""
    problems = []
    doc, perr = _resp_json(resp)
    error = doc.get("error") if isinstance(doc, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    required = expectation.required_status(code)
    if isinstance(required, str):
        if str(resp.status)[0] != required[0]:
            problems.append(f"expected a {required} status, got {resp.status}")
    elif required is not None:
        if resp.status != required:
            problems.append(f"expected status {required}, got {resp.status}")
    elif resp.status < 400:
        problems.append(f"expected an error status (>= 400), got {resp.status}")
    if perr:
        problems.append(perr)
        return problems
    if not isinstance(error, dict) or not isinstance(code, str) \
            or not isinstance(error.get("message"), str):
        problems.append("expected an error body {\"error\":{\"code\":...,\"message\":...}}, got "
                        + resp.describe(500))
        return problems
    if expectation.codes and code not in expectation.codes:
        problems.append(f"expected error code {'|'.join(expectation.codes)}, got "
                        f"{code} ({error['message']})")
    if problems:
        problems.append("response: " + resp.describe(500))
    return problems


def check_http_response(resp: harness.HttpResponse, spec: HttpSpec) -> list[str]:
    problems: list[str] = []
    if spec.error is not None:
        problems += check_error_response(resp, spec.error)
    elif spec.status is None:
        if not 200 <= resp.status < 300:
            problems.append(f"expected a 2xx status, got {resp.describe(800)}")
    elif resp.status != spec.status:
        problems.append(f"expected status {spec.status}, got {resp.describe(800)}")
    for name, value in spec.header_checks:
        actual = resp.header(name)
        if actual is None:
            problems.append(f"expected header {name}: {value}..., but it is missing")
        elif not actual.lower().startswith(value.lower()):
            problems.append(f"expected header {name} to start with {value!r}, got {actual!r}")
    text = None
    if spec.contains or spec.exact is not None:
        text = resp.body.decode("utf-8", errors="replace")
    for needle in spec.contains:
        if needle not in text:
            problems.append(f"expected the body to contain {needle!r}; body: {resp.describe(800)}")
    if spec.exact is not None:
        want = spec.exact.replace("\r\n", "\n").rstrip("\n")
        got = text.replace("\r\n", "\n").rstrip("\n")
        if want != got:
            problems.append("body differs\n--- expected\n" + want + "\n--- actual\n" + got)
    if spec.has_json_expected:
        doc, perr = _resp_json(resp)
        if perr:
            problems.append(perr)
        else:
            mismatch = json_subset_mismatch(spec.json_expected, doc)
            if mismatch:
                problems.append(f"JSON mismatch at {mismatch}\n  expected (subset): "
                                f"{_short(spec.json_expected, 1500)}\n  actual: "
                                f"{_short(doc, 1500)}")
    return problems


_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "UHUGEINT"}


def _type_matches(letter: str, type_name: str) -> bool:
    t = type_name.upper()
    if letter == "I":
        return t in _INTEGER_TYPES
    if letter == "R":
        return t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL")
    return True


def compare_result(doc, types: str, rowsort: bool, expected_rows: list[list[str]]) -> list[str]:
    """Checks a {"columns":[...],"rows":[...]} document against a query's types and rows."""
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), list) \
            or not isinstance(doc.get("rows"), list):
        return [f"expected {{\"columns\":[...],\"rows\":[...]}}, got {_short(doc, 800)}"]
    columns, rows = doc["columns"], doc["rows"]
    problems = []
    if len(columns) != len(types):
        names = [c.get("name") if isinstance(c, dict) else c for c in columns]
        return [f"expected {len(types)} columns ({types}), got {len(columns)}: {names}"]
    for idx, (letter, col) in enumerate(zip(types, columns)):
        if not isinstance(col, dict) or not isinstance(col.get("name"), str) \
                or not isinstance(col.get("type"), str):
            problems.append(f"column {idx} is not {{\"name\":...,\"type\":...}}: {_short(col)}")
            continue
        if not _type_matches(letter, col["type"]):
            problems.append(f"column {idx} ({col['name']}) has type {col['type']}, which does "
                            f"not fit {letter}")
    for r, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(types):
            problems.append(f"row {r} is not an array of {len(types)} values: {_short(row)}")
            return problems
        for idx, letter in enumerate(types):
            if letter in "IR" and row[idx] is not None and json_kind(row[idx]) != "number":
                problems.append(f"row {r} column {idx}: a {letter} value must be a JSON number, "
                                f"got {json_kind(row[idx])} {_short(row[idx])}")
    if doc.get("truncated") is True:
        problems.append(f"the result was truncated at {len(rows)} rows")
    if problems:
        return problems
    actual = [[value_text(v) for v in row] for row in rows]
    expected = [list(r) for r in expected_rows]
    if rowsort:
        actual.sort()
        expected.sort()
    if actual != expected:
        first = next((i for i, (a, e) in enumerate(zip(actual, expected)) if a != e),
                     min(len(actual), len(expected)))
        problems.append(
            f"result differs (expected {len(expected)} rows, got {len(actual)}; first "
            f"difference at row {first})\n--- expected\n" + _rows_text(expected)
            + "\n--- actual\n" + _rows_text(actual))
    return problems


def _rows_text(rows: list[list[str]], limit: int = 40) -> str:
    lines = ["\t".join(r) for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"... ({len(rows) - limit} more rows)")
    return "\n".join(lines) if lines else "(no rows)"


# ----------------------------------------------------------------------------------------------
# Running a file
# ----------------------------------------------------------------------------------------------


class AbortFile(Exception):
    """The server is gone or cannot be started: the rest of the file cannot run."""


class FileRun:
    def __init__(self, path: str, steps: list[Step], basin: str, keep: bool, verbose: bool,
                 http_timeout: float, startup_timeout: float):
        self.path = path
        self.steps = steps
        self.basin = basin
        self.keep = keep
        self.verbose = verbose
        self.http_timeout = http_timeout
        self.startup_timeout = startup_timeout
        self.passed = 0
        self.failed = 0
        self.reported = 0
        self.server: harness.BasinServer | None = None
        self.client: harness.HttpClient | None = None
        self.root = ""

    # -- reporting --------------------------------------------------------------------------

    def fail(self, step: Step, env: dict[str, str], problems: list[str]) -> None:
        self.failed += 1
        self.reported += 1
        if self.reported > MAX_FAILURE_REPORTS_PER_FILE:
            if self.reported == MAX_FAILURE_REPORTS_PER_FILE + 1:
                print(f"  ... further failures in {self.path} are counted but not shown",
                      flush=True)
            return
        where = step.where()
        shown = {k: v for k, v in env.items() if k != "TEST_DIR"}
        vars_text = ""
        if shown:
            vars_text = " (" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"
        print(f"FAIL {where}{vars_text}: {step.header.strip()}", flush=True)
        for p in problems:
            for line in p.splitlines():
                print(f"    {line}", flush=True)

    def ok(self, step: Step, env: dict[str, str]) -> None:
        self.passed += 1
        if self.verbose:
            print(f"ok   {step.where()}: {step.header.strip()}", flush=True)

    # -- server -----------------------------------------------------------------------------

    def start_server(self) -> None:
        self.server = harness.BasinServer(self.basin, os.path.join(self.root, "data"),
                                          self.root, startup_timeout=self.startup_timeout)
        self._start()

    def _start(self) -> None:
        try:
            port = self.server.start()
        except harness.HarnessError as e:
            raise AbortFile(f"could not start basin serve: {e}") from None
        self.client = harness.HttpClient(port, timeout=self.http_timeout)

    def _drop_client(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def stop_server(self) -> list[str]:
        """SIGTERM; the problems (empty when it exited 0 in time)."""
        self._drop_client()
        try:
            rc = self.server.stop()
        except harness.HarnessError as e:
            return [str(e)]
        if rc != 0:
            return [f"basin serve exited with code {rc} after SIGTERM (expected 0)\n"
                    + self.server.log_tail()]
        return []

    def server_gone(self) -> str | None:
        if self.server is None or self.server.running():
            return None
        return f"basin serve exited unexpectedly with code {self.server.exit_code()}\n" \
               + self.server.log_tail()

    def request(self, method: str, path: str, body: bytes, headers) -> harness.HttpResponse:
        try:
            return self.client.request(method, path, body, headers, timeout=self.http_timeout)
        except (OSError, TimeoutError) as e:
            gone = self.server_gone()
            if gone:
                raise AbortFile(gone) from None
            raise _StepError(f"{method} {path}: {type(e).__name__}: {e}") from None

    # -- steps ------------------------------------------------------------------------------

    def run(self) -> None:
        self.root = tempfile.mkdtemp(prefix="basin-scenario-")
        os.makedirs(os.path.join(self.root, "data"))
        started = time.monotonic()
        aborted = None
        try:
            self.start_server()
            self.run_steps(self.steps, {"TEST_DIR": self.root})
        except AbortFile as e:
            aborted = str(e)
        finally:
            if aborted is not None:
                self.failed += 1
                print(f"FAIL {self.path}: {aborted}\n    (the rest of the file was not run)",
                      flush=True)
                if self.server is not None:
                    self.server.kill_quietly()
            elif self.server is not None:
                problems = self.stop_server()
                if problems:
                    self.failed += 1
                    print(f"FAIL {self.path}: shutdown", flush=True)
                    for p in problems:
                        for line in p.splitlines():
                            print(f"    {line}", flush=True)
                else:
                    self.passed += 1
            self._drop_client()
            if self.server is not None:
                self.server.kill_quietly()
            if self.keep or self.failed:
                print(f"    (kept {self.root})", flush=True)
            else:
                shutil.rmtree(self.root, ignore_errors=True)
        elapsed = time.monotonic() - started
        print(f"{self.path}: {self.passed + self.failed} steps, {self.failed} failed "
              f"({elapsed:.1f} s)", flush=True)

    def run_steps(self, steps: list[Step], env: dict[str, str]) -> None:
        for step in steps:
            if step.kind in ("loop", "foreach"):
                for value in step.values:
                    self.run_steps(step.children, {**env, step.var: value})
                continue
            self.run_step(step, env)

    def run_step(self, step: Step, env: dict[str, str]) -> None:
        concrete = step.substituted(env)
        try:
            spec = build_spec(concrete)
            problems = self.execute(concrete, spec)
        except _StepError as e:
            problems = [str(e)]
        except ParseError as e:
            problems = [f"invalid step after substitution: {e.message}"]
        if problems:
            self.fail(step, env, problems)
        else:
            self.ok(step, env)

    def execute(self, step: Step, spec) -> list[str]:
        if isinstance(spec, SimpleSpec):
            return self.execute_simple(spec)
        if isinstance(spec, HttpSpec):
            try:
                body, headers = http_request_parts(spec)
            except ValueError as e:
                return [str(e)]
            resp = self.request(spec.method, spec.path, body, headers)
            return check_http_response(resp, spec)
        if isinstance(spec, StatementSpec):
            resp = self.request("POST", "/v1/query", json.dumps({"sql": spec.sql}).encode(),
                                [("Content-Type", "application/json")])
            if spec.ok:
                if resp.status != 200:
                    return [f"expected the statement to succeed, got {resp.describe(800)}"]
                return []
            problems = check_error_response(resp, spec.error)
            if not problems and spec.message:
                message = resp.json()["error"]["message"]
                if spec.message not in message:
                    problems.append(f"expected the error message to contain {spec.message!r}, "
                                    f"got {message!r}")
            return problems
        if isinstance(spec, QuerySpec):
            resp = self.request("POST", "/v1/query", json.dumps({"sql": spec.sql}).encode(),
                                [("Content-Type", "application/json")])
            if resp.status != 200:
                return [f"query failed: {resp.describe(800)}"]
            doc, perr = _resp_json(resp)
            if perr:
                return [perr]
            return compare_result(doc, spec.types, spec.rowsort, spec.rows)
        if isinstance(spec, OfflineSqlSpec):
            return self.execute_offline(spec)
        raise AssertionError(spec)

    def execute_simple(self, spec: SimpleSpec) -> list[str]:
        if spec.kind == "sleep":
            time.sleep(spec.millis / 1000)
            return []
        if spec.kind == "flush":
            resp = self.request("POST", "/v1/admin/flush", b"", [])
            if resp.status != 200:
                return [f"flush answered {resp.describe(800)}"]
            doc, perr = _resp_json(resp)
            if perr:
                return [perr]
            if not isinstance(doc, dict):
                return [f"flush answered JSON that is not an object: {resp.describe(300)}"]
            return []
        if spec.kind == "restart":
            problems = self.stop_server()
            self._start()
            return problems
        if spec.kind == "kill":
            self._drop_client()
            gone = self.server_gone()
            if gone:
                raise AbortFile(gone)
            self.server.kill()
            self._start()
            return []
        raise AssertionError(spec.kind)

    def execute_offline(self, spec: OfflineSqlSpec) -> list[str]:
        try:
            proc = harness.offline_sql(self.basin, self.server.data_dir, spec.sql, "json")
        except harness.HarnessError as e:
            return [str(e)]
        out = proc.stdout.decode("utf-8", errors="replace")
        errtext = proc.stderr.decode("utf-8", errors="replace")
        if spec.error:
            if proc.returncode == 0:
                return [f"expected `basin sql` to fail, but it exited 0; stdout: {out[:800]}"]
            if spec.message and spec.message not in out + errtext:
                return [f"expected the output of `basin sql` to contain {spec.message!r}; "
                        f"stderr: {errtext[:800]} stdout: {out[:800]}"]
            return []
        if proc.returncode != 0:
            return [f"`basin sql` exited with code {proc.returncode}; stderr: {errtext[:1500]}"]
        try:
            doc = loads_exact(out)
        except ValueError as e:
            return [f"`basin sql --format json` printed something that is not JSON ({e}): "
                    f"{out[:800]}"]
        return compare_result(doc, spec.types, spec.rowsort, spec.rows)


class _StepError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Runs Basin .test scenario files.")
    parser.add_argument("--basin", help="path to the basin binary (not needed with --parse-only)")
    parser.add_argument("--keep", action="store_true", help="keep each file's temporary dir")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every step")
    parser.add_argument("--parse-only", action="store_true",
                        help="only parse and validate the files")
    parser.add_argument("--http-timeout", type=float, default=120.0,
                        help="seconds to wait for one HTTP response (default 120)")
    parser.add_argument("--startup-timeout", type=float, default=60.0,
                        help="seconds to wait for the server to become ready (default 60)")
    parser.add_argument("files", nargs="+", metavar="FILE.test")
    args = parser.parse_args(argv)

    parsed = []
    parse_failures = 0
    for path in args.files:
        try:
            parsed.append((path, parse_file(path)))
        except ParseError as e:
            print(f"FAIL {e}", flush=True)
            parse_failures += 1
        except OSError as e:
            print(f"FAIL {path}: {e}", flush=True)
            parse_failures += 1
    if args.parse_only:
        print(f"{len(parsed)} passed, {parse_failures} failed", flush=True)
        return 1 if parse_failures else 0

    if not args.basin:
        parser.error("--basin is required (unless --parse-only)")
    basin = os.path.abspath(args.basin)
    if not (os.path.isfile(basin) and os.access(basin, os.X_OK)):
        print(f"FAIL basin binary not found or not executable: {basin}", flush=True)
        print(f"0 passed, {len(args.files)} failed", flush=True)
        return 2

    passed, failed = 0, parse_failures
    for path, steps in parsed:
        run = FileRun(path, steps, basin, args.keep, args.verbose, args.http_timeout,
                      args.startup_timeout)
        try:
            run.run()
        finally:
            harness.kill_all_started_servers()
        passed += run.passed
        failed += run.failed
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
