"""WSGI application the interop suite runs under uWSGI (uwsgi and FastCGI sockets)."""
import json
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
    if path.endswith("/bytes"):
        query = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
        body = pattern(int(query.get("n", "0")))
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    answer = {
        "environ": {k: v for k, v in environ.items() if isinstance(v, str)},
        "url_scheme": environ["wsgi.url_scheme"],
        "body_len": len(body),
        "body_crc32": zlib.crc32(body),
    }
    data = json.dumps(answer, sort_keys=True).encode("latin-1")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]
