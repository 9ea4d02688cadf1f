#!/usr/bin/env python3
"""Writes the seed corpora from the captures in testdata/captures (run from the repo root).

The corpora are committed; run this again only when the captures change."""
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPS = os.path.join(ROOT, "testdata", "captures")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
LIMIT = 8192  # seeds stay small so that fuzzing stays fast


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def records(data):
    off = 0
    while off + 8 <= len(data):
        _, rtype, rid, clen, plen = struct.unpack(">BBHHB", data[off:off + 7])
        content = data[off + 8: off + 8 + clen]
        yield rtype, rid, content
        off += 8 + clen + plen


def captures(folder, suffix):
    path = os.path.join(CAPS, folder)
    for name in sorted(os.listdir(path)):
        if name.endswith(suffix):
            with open(os.path.join(path, name), "rb") as f:
                yield name[: -len(".bin")], f.read()


def main():
    fcgi = [c for folder in ("nginx-fpm", "nginx-fpm-keepconn") for c in captures(folder, ".bin")]
    fcgi += [c for c in captures("nginx-uwsgi", ".bin") if "uwsgifcgi" in c[0]]
    for name, data in fcgi:
        write("fastcgi_records", name, data[:LIMIT])
        if name.endswith("c2s"):
            write("fastcgi_server", name + "-single", b"\x00" + data[:LIMIT])
            write("fastcgi_server", name + "-mpx", b"\x01" + data[:LIMIT])
        else:
            write("fastcgi_client", name, data[:LIMIT])
        params = b"".join(c for t, _, c in records(data) if t == 4)
        if params:
            write("fastcgi_params", name, params[:LIMIT])
            write("fastcgi_params_roundtrip", name, params[:LIMIT])
            write("fastcgi_exchange", name, params[:LIMIT])
        stdout = b"".join(c for t, _, c in records(data) if t == 6)
        if stdout:
            write("cgi_response_head", name, stdout[:2048])
    for name, data in captures("nginx-uwsgi", ".bin"):
        if "uwsgifcgi" in name:
            continue
        if name.endswith("c2s"):
            write("uwsgi_packet", name, data[:LIMIT])
            write("uwsgi_request", name, data[:LIMIT])
            size = struct.unpack("<H", data[1:3])[0]
            write("uwsgi_vars", name, data[4:4 + size])
            write("uwsgi_roundtrip", name, data[4:4 + size])
            write("environ_to_request", name, data[4:4 + size])
        else:
            write("uwsgi_response", name, data[:LIMIT])
    for name, head in {
        "status-404": b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope",
        "location": b"Location: /x?y=1\n\n",
        "bare-lf": b"Content-Type: text/html\nX-A: b\n\nbody",
        "obs-fold": b"Content-Type: text/plain\r\nX-A: b\r\n c\r\n\r\n",
        "framing": b"Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        "status-line-http11": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        "status-line-http10-hop-by-hop": b"HTTP/1.0 302 Found\nLocation: /next\nConnection: close, X-Private\nX-Private: 1\nTransfer-Encoding: chunked\n\n",
        "status-line-zero": b"HTTP/1.1 000 Zero\r\n\r\n",
        "status-zero": b"Status: 000\r\n\r\n",
        "no-cgi-field": b"X-Only: 1\r\n\r\nbody",
    }.items():
        write("cgi_response_head", name, head)


if __name__ == "__main__":
    sys.exit(main())
