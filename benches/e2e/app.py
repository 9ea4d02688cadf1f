# Hello-world WSGI app for the end-to-end benchmark (benches/e2e/run.sh).
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]
