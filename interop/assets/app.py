"""WSGI application the interop suite runs under uWSGI (uwsgi and FastCGI sockets).

Paths (matched on the end of PATH_INFO):
  /ready          200 "ready"
  /bytes?n=N      200, N bytes of pattern(N), with Content-Length
  /big?bytes=N    the same as /bytes?n=N (the name big.php uses)
  /status/404     404, Content-Type text/plain, body "not found" and a newline
  anything else   200, Content-Type text/plain, the lines described below (body read whole)

pattern(n): byte i is (i % 65536) % 251, as interop::checksum::pattern and big.php.
"""
import zlib


def pattern(n):
    block = bytes(i % 251 for i in range(65536))
    out = block * (n // len(block)) + block[: n % len(block)]
    return out


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.endswith("/ready"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ready"]
    if path.endswith("/status/404"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    if path.endswith("/bytes") or path.endswith("/big"):
        query = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
        body = pattern(int(query.get("n" if path.endswith("/bytes") else "bytes", "0")))
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    # Lines: body_len<TAB>N, body_crc32<TAB>decimal zlib.crc32, url_scheme<TAB>scheme, then
    # env<TAB>NAME<TAB>hex(value) for every string value of the environ (REQUEST_METHOD,
    # PATH_INFO, QUERY_STRING, CONTENT_LENGTH, HTTP_*...), sorted by name; read back by
    # interop::app_answer::AppAnswer::parse.
    # Plain lines instead of JSON, so that any byte survives: values go back to the
    # bytes they came from (PEP 3333 native strings are latin-1) and out as hex.
    lines = [
        "body_len\t%d" % len(body),
        "body_crc32\t%d" % zlib.crc32(body),
        "url_scheme\t%s" % environ["wsgi.url_scheme"],
    ]
    for name, value in sorted(environ.items()):
        if isinstance(value, str):
            lines.append("env\t%s\t%s" % (name, value.encode("latin-1").hex()))
    data = ("\n".join(lines) + "\n").encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(data)))])
    return [data]
