#!/usr/bin/env python3
"""Self-test of the .test runner: parser, JSON subset matcher, result comparison, request bodies,
the HTTP client, and whole runs against a small fake server (fake_basin.py). Needs no Basin
binary. Run: python3 tests/runner/test_runner_selftest.py  (exit 0 when everything passes)."""

import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import basin_harness as harness  # noqa: E402
import basin_test as bt  # noqa: E402

J = bt.loads_exact


def mismatch(expected, actual):
    return bt.json_subset_mismatch(J(expected), J(actual))


class JsonSubsetTest(unittest.TestCase):
    def test_object_subset(self):
        self.assertIsNone(mismatch('{"a":1}', '{"a":1,"b":2}'))
        self.assertIsNone(mismatch('{}', '{"a":1}'))
        self.assertIn("missing key", mismatch('{"c":1}', '{"a":1}'))
        self.assertIn("$.a", mismatch('{"a":2}', '{"a":1}'))

    def test_nested_and_paths(self):
        exp = '{"rejected":[{"index":1,"code":"ValidationFailed"}]}'
        act = '{"accepted":2,"rejected":[{"index":1,"code":"ValidationFailed","reason":"x"}]}'
        self.assertIsNone(mismatch(exp, act))
        bad = '{"rejected":[{"index":2,"code":"ValidationFailed","reason":"x"}]}'
        self.assertIn("$.rejected[0].index", mismatch(exp, bad))

    def test_arrays_need_same_length(self):
        self.assertIsNone(mismatch('[1,{"a":1}]', '[1,{"a":1,"b":0}]'))
        self.assertIn("2 elements", mismatch('[1,2]', '[1,2,3]'))
        self.assertIn("expected an array of 0", mismatch('[]', '[1]'))
        self.assertIsNone(mismatch('{"rejected":[]}', '{"rejected":[]}'))

    def test_numbers_by_value(self):
        self.assertIsNone(mismatch('1', '1.0'))
        self.assertIsNone(mismatch('1e2', '100'))
        self.assertIsNone(mismatch('19.99', '19.990'))
        self.assertIsNotNone(mismatch('19.99', '19.98'))
        # Exact: 0.1 + 0.2 style rounding must not hide a difference.
        self.assertIsNotNone(mismatch('0.3', '0.30000000000000004'))

    def test_types_do_not_mix(self):
        self.assertIn("expected number", mismatch('1', '"1"'))
        self.assertIn("expected string", mismatch('"1"', '1'))
        self.assertIn("expected boolean", mismatch('true', '1'))
        self.assertIn("expected null", mismatch('null', '0'))
        self.assertIn("expected object", mismatch('{}', '[]'))
        self.assertIsNone(mismatch('null', 'null'))
        self.assertIsNone(mismatch('false', 'false'))

    def test_exact_numbers_and_dump(self):
        doc = J('{"a":1.50,"b":[1e3,-0,true,null,"x"]}')
        self.assertEqual(bt.dumps_exact(doc), '{"a":1.50,"b":[1e3,-0,true,null,"x"]}')
        with self.assertRaises(ValueError):
            J('NaN')

    def test_value_text(self):
        row = J('[1.50, null, "", "a b", true, false, 12345678901234567890, {"k":[1]}]')
        self.assertEqual([bt.value_text(v) for v in row],
                         ["1.50", "NULL", "(empty)", "a b", "true", "false",
                          "12345678901234567890", '{"k":[1]}'])


class ParserTest(unittest.TestCase):
    def parse(self, text):
        return bt.parse_text(text, "t.test")

    def perr(self, text):
        with self.assertRaises(bt.ParseError) as cm:
            self.parse(text)
        return cm.exception

    def test_records_and_comments(self):
        steps = self.parse(
            "# a comment\n"
            "http POST /v1/streams/clickstream/records\n"
            '{"event_id":"a","event_type":"t","timestamp":1}\n'
            "----\n"
            "200\n"
            '{"accepted":1}\n'
            "\n"
            "flush\n"
            "query I\n"
            "SELECT 1\n"
            "----\n"
            "1\n")
        self.assertEqual([s.kind for s in steps], ["http", "flush", "query"])
        self.assertEqual([s.line for s in steps], [2, 8, 9])
        spec = bt.build_spec(steps[0])
        self.assertEqual(spec.status, 200)
        self.assertTrue(spec.has_json_expected)
        self.assertEqual(spec.body_lines, ['{"event_id":"a","event_type":"t","timestamp":1}'])
        q = bt.build_spec(steps[2])
        self.assertEqual((q.types, q.rows, q.sql), ("I", [["1"]], "SELECT 1"))

    def test_http_headers_and_modifiers(self):
        step = self.parse("http POST /x gzip ndjson X-Forwarded-For: 10.0.0.1, 10.0.0.2 "
                          "User-Agent: my agent/1.0\nbody\n")[0]
        spec = bt.build_spec(step)
        self.assertTrue(spec.gzip and spec.ndjson)
        self.assertEqual(spec.headers, [("X-Forwarded-For", "10.0.0.1, 10.0.0.2"),
                                        ("User-Agent", "my agent/1.0")])
        self.assertIsNone(spec.status)  # no ---- : any 2xx
        self.assertIn("modifiers", self.perr("http POST /x zip\n").message)
        self.assertIn("has no value", self.perr("http POST /x Accept:\n").message)
        self.assertIn("must start with", self.perr("http GET healthz\n").message)

    def test_expect_error_forms(self):
        s = bt.build_spec(self.parse("http GET /x\n----\nexpect error StreamNotFound\n")[0])
        self.assertEqual((s.error.codes, s.error.required_status("StreamNotFound")),
                         (["StreamNotFound"], 404))
        s = bt.build_spec(
            self.parse("http GET /x\n----\nexpect error 415 UnsupportedEncoding\n")[0])
        self.assertEqual((s.error.codes, s.error.status), (["UnsupportedEncoding"], 415))
        s = bt.build_spec(self.parse("http GET /x\n----\nexpect error QueryTimeout\n")[0])
        self.assertIsNone(s.error.required_status("QueryTimeout"))  # not in the contract
        s = bt.build_spec(self.parse(
            "http GET /x\n----\nexpect error MalformedBody|MalformedJson\n")[0])
        self.assertEqual((s.error.codes, s.error.required_status("MalformedJson")),
                         (["MalformedBody", "MalformedJson"], 400))
        # Alternatives with different statuses: the status must fit the code returned.
        s = bt.build_spec(self.parse("http GET /x\n----\nexpect error AccessDenied|SqlError\n")[0])
        self.assertEqual((s.error.required_status("AccessDenied"),
                          s.error.required_status("SqlError"),
                          s.error.required_status("Other")), (403, 400, None))
        s = bt.build_spec(
            self.parse("http GET /x\n----\nexpect error 4xx UnsupportedEncoding\n")[0])
        self.assertEqual(s.error.required_status("UnsupportedEncoding"), "4xx")
        s = bt.build_spec(self.parse("http GET /x\n----\nexpect error 400\n")[0])
        self.assertEqual((s.error.codes, s.error.required_status("Whatever")), ([], 400))
        e = self.perr("http GET /x\n----\nexpect error 200 Foo\n")
        self.assertIn(">= 400", e.message)
        self.assertEqual(e.line, 3)

    def test_expected_response_lines(self):
        s = bt.build_spec(self.parse(
            "http POST /v1/query?format=csv\n{\"sql\":\"SELECT 1\"}\n----\n200\n"
            "header Content-Type: text/csv\ncontains 1\nexact\na,b\n1,2\n")[0])
        self.assertEqual(s.header_checks, [("Content-Type", "text/csv")])
        self.assertEqual(s.contains, ["1"])
        self.assertEqual(s.exact, "a,b\n1,2")
        e = self.perr('http GET /x\n----\n200\n{"a":\n')
        self.assertIn("not valid JSON", e.message)
        self.assertEqual(e.line, 4)
        e = self.perr("http GET /x\n----\n200\nwhatever\n")
        self.assertEqual(e.line, 4)
        e = self.perr("http GET /x\n----\nOK\n")
        self.assertIn("expected a status", e.message)

    def test_statement_forms(self):
        s = bt.build_spec(self.parse("statement ok\nSELECT 1\n")[0])
        self.assertTrue(s.ok)
        s = bt.build_spec(self.parse("statement error SqlError\nSELEC 1\n----\nsyntax\n")[0])
        self.assertEqual((s.ok, s.error.codes, s.error.required_status("SqlError"), s.message),
                         (False, ["SqlError"], 400, "syntax"))
        s = bt.build_spec(self.parse("statement error\nSELEC 1\n")[0])
        self.assertEqual(s.error.codes, [])
        self.assertIn("missing SQL", self.perr("statement ok\n").message)
        # A blank line ends the record, so the SQL below it is a new (unknown) command.
        self.assertIn("unknown command", self.perr("statement ok\n\nSELECT 1\n").message)
        self.assertIn("no `----`", self.perr("statement ok\nSELECT 1\n----\n1\n").message)

    def test_query_rows_and_errors(self):
        s = bt.build_spec(self.parse("query IT rowsort\nSELECT 1, 'a'\n----\n1\ta\n2\tb\n")[0])
        self.assertEqual((s.types, s.rowsort, s.rows), ("IT", True, [["1", "a"], ["2", "b"]]))
        s = bt.build_spec(self.parse("query I\nSELECT 1 WHERE false\n----\n")[0])
        self.assertEqual(s.rows, [])
        e = self.perr("query IT\nSELECT 1, 'a'\n----\n1 a\n")
        self.assertIn("tabs", e.message)
        self.assertEqual(e.line, 4)
        self.assertIn("missing `----`", self.perr("query I\nSELECT 1\n").message)
        self.assertIn("TYPES", self.perr("query X\nSELECT 1\n----\n1\n").message)
        self.assertIn("unknown option", self.perr("query I sorted\nSELECT 1\n----\n1\n").message)

    def test_sql_step(self):
        s = bt.build_spec(self.parse("sql I\nSELECT count(*) FROM raw.clickstream\n----\n3\n")[0])
        self.assertEqual((s.error, s.types, s.rows), (False, "I", [["3"]]))
        s = bt.build_spec(self.parse("sql error\nSELEC\n")[0])
        self.assertTrue(s.error)

    def test_loops(self):
        steps = self.parse("loop i 0 3\n"
                           "foreach s a b\n"
                           "http POST /v1/streams/${s}/records\n"
                           '{"event_id":"e${i}${s}"}\n'
                           "\n"
                           "endloop\n"
                           "endloop\n"
                           "flush\n")
        self.assertEqual([s.kind for s in steps], ["loop", "flush"])
        loop = steps[0]
        self.assertEqual((loop.var, loop.values), ("i", ["0", "1", "2"]))  # end is exclusive
        inner = loop.children[0]
        self.assertEqual((inner.kind, inner.values), ("foreach", ["a", "b"]))
        http = inner.children[0].substituted({"i": "2", "s": "b"})
        self.assertEqual(http.header, "http POST /v1/streams/b/records")
        self.assertEqual(http.body, ['{"event_id":"e2b"}'])
        self.assertIn("without `endloop`", self.perr("loop i 0 2\nflush\n").message)
        self.assertIn("without `loop`", self.perr("flush\nendloop\n").message)
        self.assertIn("integers", self.perr("loop i 0 x\nendloop\n").message)

    def test_validation_uses_first_loop_value(self):
        # Steps inside loops are validated with the first value of each loop variable.
        e = self.perr("foreach st abc 200\nhttp GET /x\n----\n${st}\n\nendloop\n")
        self.assertIn("expected a status", e.message)
        self.parse("foreach st 200 abc\nhttp GET /x\n----\n${st}\n\nendloop\n")

    def test_unknown_command_and_single_line_args(self):
        e = self.perr("flush\n\nselect 1\n")
        self.assertEqual((e.line, "unknown command" in e.message), (3, True))
        self.assertIn("takes no arguments", self.perr("restart now\n").message)
        self.assertIn("sleep", self.perr("sleep soon\n").message)

    def test_substitute(self):
        self.assertEqual(bt.substitute("a${i}b${j}${rep}", {"i": "1", "j": "x"}), "a1bx${rep}")

    def test_body_directive_validation(self):
        e = self.perr("http POST /x\n[\n@repeat many x\n]\n")
        self.assertEqual(e.line, 3)
        bt.build_spec(self.parse("http POST /x\n@@literal\n@lines 2 {}\n@repeat 3 a\\\n")[0])


class BodyTest(unittest.TestCase):
    def test_render_body(self):
        self.assertEqual(bt.render_body(["a", "b"]), b"a\nb")
        self.assertEqual(bt.render_body(["a\\", "b"]), b"ab")
        self.assertEqual(bt.render_body(["[", "@repeat 3 {\"i\":${rep}},\\", "{}]"]),
                         b'[\n{"i":1},{"i":2},{"i":3},{}]')
        self.assertEqual(bt.render_body(["@lines 2 x${rep}"]), b"x1\nx2")
        self.assertEqual(bt.render_body(["@@at"]), b"@at")
        self.assertEqual(bt.render_body([]), b"")
        big = bt.render_body(["@repeat 1000000 ab"])
        self.assertEqual(len(big), 2_000_000)
        self.assertEqual(bt.render_body(["@lines 3 ab", "c"]), b"ab\nab\nab\nc")
        self.assertEqual(bt.render_body(["@repeat 0 ab", "c"]), b"\nc")
        many = bt.render_body(["@lines 20000 x${rep}"]).split(b"\n")
        self.assertEqual((len(many), many[0], many[-1]), (20000, b"x1", b"x20000"))
        with self.assertRaises(ValueError):
            bt.render_body([f"@repeat {bt.MAX_GENERATED_BODY} xx"])

    def test_request_parts(self):
        spec = bt.build_spec(bt.parse_text("http POST /r ndjson gzip\n{\"a\":1}\n{\"a\":2}\n")[0])
        body, headers = bt.http_request_parts(spec)
        self.assertEqual(gzip.decompress(body), b'{"a":1}\n{"a":2}\n')
        self.assertIn(("Content-Type", "application/x-ndjson"), headers)
        self.assertIn(("Content-Encoding", "gzip"), headers)
        spec = bt.build_spec(bt.parse_text(
            "http POST /r gzip Content-Encoding: br Content-Type: text/plain\nx\n")[0])
        body, headers = bt.http_request_parts(spec)
        self.assertEqual(headers, [("Content-Encoding", "br"), ("Content-Type", "text/plain")])
        spec = bt.build_spec(bt.parse_text("http POST /r\n")[0])
        self.assertEqual(bt.http_request_parts(spec), (b"", []))
        # A gzip body is compressed while it is generated: 200 MB of it stays small.
        spec = bt.build_spec(bt.parse_text("http POST /r gzip\n[\\\n@repeat 4000000 {\"a\":1},\\\n"
                                           "{}]\n")[0])
        body, headers = bt.http_request_parts(spec)
        self.assertLess(len(body), 2 << 20)
        plain = gzip.decompress(body)
        self.assertEqual(len(plain), 2 + 4000000 * 8 + 2)
        self.assertTrue(plain.startswith(b'[{"a":1},{"a":1},') and plain.endswith(b'{"a":1},{}]'))
        self.assertEqual(headers, [("Content-Type", "application/json"),
                                   ("Content-Encoding", "gzip")])
        spec = bt.build_spec(
            bt.parse_text("http POST /r gzip ndjson\n@lines 3 {\"i\":${rep}}\n")[0])
        body, _ = bt.http_request_parts(spec)
        self.assertEqual(gzip.decompress(body), b'{"i":1}\n{"i":2}\n{"i":3}\n')


class CompareResultTest(unittest.TestCase):
    def doc(self, columns, rows):
        return J(json.dumps({"columns": [{"name": n, "type": t} for n, t in columns]})[:-1]
                 + ',"rows":' + rows + "}")

    def test_match_and_mismatch(self):
        d = self.doc([("n", "BIGINT"), ("s", "VARCHAR")], '[[2,"b"],[1,null]]')
        self.assertEqual(bt.compare_result(d, "IT", False, [["2", "b"], ["1", "NULL"]]), [])
        self.assertEqual(bt.compare_result(d, "IT", True, [["1", "NULL"], ["2", "b"]]), [])
        problems = bt.compare_result(d, "IT", False, [["1", "NULL"], ["2", "b"]])
        self.assertTrue(problems and "first difference at row 0" in problems[0])
        problems = bt.compare_result(d, "IT", False, [["2", "b"]])
        self.assertIn("expected 1 rows, got 2", problems[0])

    def test_types_and_kinds(self):
        d = self.doc([("n", "VARCHAR")], '[["1"]]')
        self.assertIn("does not fit I", bt.compare_result(d, "I", False, [["1"]])[0])
        d = self.doc([("n", "BIGINT")], '[["1"]]')
        self.assertIn("must be a JSON number", bt.compare_result(d, "I", False, [["1"]])[0])
        d = self.doc([("r", "DECIMAL(18,2)")], '[[19.90]]')
        self.assertEqual(bt.compare_result(d, "R", False, [["19.90"]]), [])
        self.assertTrue(bt.compare_result(d, "R", False, [["19.9"]]))  # compared as text
        d = self.doc([("a", "INTEGER"), ("b", "INTEGER")], "[[1,2]]")
        self.assertIn("expected 1 columns", bt.compare_result(d, "I", False, [["1"]])[0])
        d = J('{"columns":[{"name":"n","type":"BIGINT"}],"rows":[[1]],"truncated":true}')
        self.assertIn("truncated", bt.compare_result(d, "I", False, [["1"]])[0])
        self.assertTrue(bt.compare_result(J('{"rows":[]}'), "I", False, []))


def _resp(status, body, headers=()):
    return harness.HttpResponse(status, "", list(headers), body.encode())


class ResponseCheckTest(unittest.TestCase):
    def spec(self, text):
        return bt.build_spec(bt.parse_text(text)[0])

    def test_error_status_follows_code(self):
        s = self.spec("http GET /x\n----\nexpect error AccessDenied|SqlError\n")
        denied = '{"error":{"code":"AccessDenied","message":"no"}}'
        sql = '{"error":{"code":"SqlError","message":"no"}}'
        self.assertEqual(bt.check_http_response(_resp(403, denied), s), [])
        self.assertEqual(bt.check_http_response(_resp(400, sql), s), [])
        self.assertTrue(bt.check_http_response(_resp(400, denied), s))
        self.assertTrue(bt.check_http_response(_resp(403, sql), s))
        other = '{"error":{"code":"Internal","message":"boom"}}'
        problems = bt.check_http_response(_resp(500, other), s)
        self.assertIn("expected error code AccessDenied|SqlError, got Internal", problems[0])

    def test_status_class(self):
        s = self.spec("http GET /x\n----\nexpect error 4xx UnsupportedEncoding\n")
        body = '{"error":{"code":"UnsupportedEncoding","message":"br"}}'
        self.assertEqual(bt.check_http_response(_resp(400, body), s), [])
        self.assertEqual(bt.check_http_response(_resp(415, body), s), [])
        self.assertIn("expected a 4xx status", bt.check_http_response(_resp(500, body), s)[0])

    def test_error_shape_and_unknown_status(self):
        s = self.spec("http GET /x\n----\nexpect error QueryTimeout\n")
        ok = '{"error":{"code":"QueryTimeout","message":"slow"}}'
        self.assertEqual(bt.check_http_response(_resp(408, ok), s), [])
        self.assertEqual(bt.check_http_response(_resp(504, ok), s), [])
        self.assertTrue(bt.check_http_response(_resp(200, ok), s))
        self.assertTrue(bt.check_http_response(_resp(408, '{"error":"QueryTimeout"}'), s))
        self.assertTrue(bt.check_http_response(_resp(408, '{"error":{"code":"QueryTimeout"}}'), s))
        self.assertTrue(bt.check_http_response(_resp(408, 'timeout'), s))

    def test_status_json_header_contains_exact(self):
        s = self.spec("http GET /x\n----\n200\nheader Content-Type: text/csv\ncontains b\n"
                      "exact\na\nb\n")
        good = _resp(200, "a\r\nb\r\n", [("content-type", "text/csv; charset=utf-8")])
        self.assertEqual(bt.check_http_response(good, s), [])
        bad = _resp(200, "a\nc\n", [("Content-Type", "application/json")])
        problems = bt.check_http_response(bad, s)
        self.assertEqual(len(problems), 3)
        s = self.spec('http GET /x\n----\n200\n{"accepted":1,"rejected":[]}\n')
        self.assertEqual(bt.check_http_response(
            _resp(200, '{"stream":"clickstream","accepted":1,"rejected":[]}'), s), [])
        self.assertIn("$.rejected", bt.check_http_response(
            _resp(200, '{"accepted":1,"rejected":[{"index":0}]}'), s)[0])
        self.assertIn("expected status 200", bt.check_http_response(_resp(201, "{}"), s)[0])
        s = self.spec("http GET /x\n")
        self.assertEqual(bt.check_http_response(_resp(204, ""), s), [])
        self.assertTrue(bt.check_http_response(_resp(400, ""), s))


class _OneShotServer:
    """A raw TCP server running `handler(conn)` for each connection, for client tests."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handler, args=(conn,), daemon=True).start()

    def close(self):
        self.sock.close()


def _read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class HttpClientTest(unittest.TestCase):
    def test_early_413_while_sending(self):
        def handler(conn):
            _read_head(conn)
            body = b'{"error":{"code":"PayloadTooLarge","message":"too big"}}'
            conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\n\r\n" + body)
            time.sleep(0.2)
            conn.close()  # with unread data: the kernel sends RST
        srv = _OneShotServer(handler)
        try:
            resp = harness.http_request(srv.port, "POST", "/x", b"x" * (20 << 20), timeout=20)
            self.assertEqual(resp.status, 413)
            self.assertTrue(resp.answered_early)
            self.assertEqual(resp.json()["error"]["code"], "PayloadTooLarge")
        finally:
            srv.close()

    def test_chunked_and_keep_alive(self):
        connections = []

        def handler(conn):
            connections.append(conn)
            for _ in range(2):
                if not _read_head(conn):
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n")
            conn.close()  # a third request on this connection finds it closed
        srv = _OneShotServer(handler)
        try:
            client = harness.HttpClient(srv.port, timeout=10)
            self.assertEqual(client.request("GET", "/a").body, b"abcde")
            self.assertEqual(client.request("GET", "/b").body, b"abcde")
            time.sleep(0.1)
            # The kept-alive connection is closed now; the client reconnects once by itself.
            self.assertEqual(client.request("GET", "/c").body, b"abcde")
            self.assertEqual(len(connections), 2)
            client.close()
        finally:
            srv.close()

    def test_connection_refused(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with self.assertRaises(OSError):
            harness.http_request(port, "GET", "/healthz", timeout=5)


class RunnerAgainstFakeServerTest(unittest.TestCase):
    """Whole runs of basin_test.py with fake_basin.py standing in for the binary."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="basin-selftest-")
        cls.fake = os.path.join(cls.dir, "basin")
        with open(cls.fake, "w") as f:
            f.write(f"#!/bin/sh\nexec {sys.executable} {os.path.join(HERE, 'fake_basin.py')} "
                    '"$@"\n')
        os.chmod(cls.fake, 0o755)

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_file(self, text, env=None):
        path = os.path.join(self.dir, "case.test")
        with open(path, "w") as f:
            f.write(text)
        proc = subprocess.run([sys.executable, os.path.join(HERE, "basin_test.py"),
                               "--basin", self.fake, path], capture_output=True, text=True,
                              timeout=120,
                              env={**os.environ, "TMPDIR": self.dir, **(env or {})})
        return proc.returncode, proc.stdout + proc.stderr

    PASSING = """
# events, a loop, flush, restart, kill and both SQL paths
loop i 0 3
http POST /v1/streams/clickstream/records
{"event_id":"e${i}"}
----
200
{"stream":"clickstream","accepted":1,"rejected":[]}

endloop

http POST /v1/streams/clickstream/records
[{"event_id":"e0"},7]
----
200
{"accepted":1,"rejected":[{"index":1,"code":"ValidationFailed"}]}

restart

flush

query I
SELECT count(*) AS n FROM raw.clickstream
----
3

http POST /v1/streams/clickstream/records
{"event_id":"e9"}

kill

flush

query T rowsort
SELECT event_id FROM raw.clickstream ORDER BY 1
----
e9
e0
e1
e2

query RITT
SELECT 1.50::DECIMAL(4,2) AS d, NULL AS x, '' AS e, true AS b
----
1.50	NULL	(empty)	true

sql I
SELECT count(*) AS n FROM raw.clickstream
----
4

sql error
SELEC 1
----
SELEC

statement error SqlError
SELEC 1
----
Parser Error

statement error AccessDenied
CREATE TABLE t(a INT)

http POST /v1/streams/nope/records
{"event_id":"x"}
----
expect error StreamNotFound

http POST /v1/streams/clickstream/records
@repeat 140000 {"event_id":"padding-padding-padding-padding-padding-padding-padding-padding-pad"},
----
expect error PayloadTooLarge

http GET /healthz
----
200
{"status":"ok"}
"""

    def test_passing_file(self):
        rc, out = self.run_file(self.PASSING)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"\n20 passed, 0 failed\n$")

    def test_failures_are_reported_with_location(self):
        text = ("http POST /v1/streams/clickstream/records\n{\"event_id\":\"a\"}\n----\n200\n"
                "{\"accepted\":2}\n\nflush\n\nquery I\nSELECT count(*) AS n FROM raw.clickstream"
                "\n----\n1\n\nstatement ok\nSELEC 1\n\nhttp GET /healthz\n----\n"
                "expect error StreamNotFound\n")
        rc, out = self.run_file(text)
        self.assertEqual(rc, 1, out)
        self.assertIn("case.test:1: http POST", out)
        self.assertIn("$.accepted: expected 2, got 1", out)
        self.assertIn("case.test:14: statement ok", out)
        self.assertIn("case.test:17: http GET /healthz", out)
        self.assertIn("expected status 404, got 200", out)
        self.assertTrue(out.rstrip().endswith("3 passed, 3 failed"), out)

    def test_wrong_query_result_fails(self):
        text = "flush\n\nquery I\nSELECT count(*) AS n FROM raw.clickstream\n----\n0\n"
        rc, out = self.run_file(text, env={"FAKE_BASIN_BAD_COUNT": "1"})
        self.assertEqual(rc, 1, out)
        self.assertIn("case.test:3: query I", out)
        self.assertIn("result differs", out)

    def test_nonzero_exit_on_sigterm_fails(self):
        rc, out = self.run_file("flush\n", env={"FAKE_BASIN_TERM_EXIT": "3"})
        self.assertEqual(rc, 1, out)
        self.assertIn("exited with code 3 after SIGTERM", out)

    def test_missing_binary(self):
        path = os.path.join(self.dir, "empty.test")
        with open(path, "w") as f:
            f.write("flush\n")
        proc = subprocess.run([sys.executable, os.path.join(HERE, "basin_test.py"), "--basin",
                               os.path.join(self.dir, "nope"), path], capture_output=True,
                              text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("not found", proc.stdout)

    def test_parse_error_fails_without_running(self):
        rc, out = self.run_file("query I\nSELECT 1\n")
        self.assertEqual(rc, 1, out)
        self.assertIn("case.test:1: missing `----`", out)


if __name__ == "__main__":
    unittest.main(verbosity=1)
