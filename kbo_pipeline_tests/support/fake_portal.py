"""A small fake of the KBO open-data portal on 127.0.0.1, with the same protocol: form login that
answers 302 with a session cookie, a signup page that adds a cookie, the listing, the downloads, and
sessions that expire when the test says so."""

import secrets
import threading
import urllib.parse
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PREFIX = "/kbo-open-data"


class FakePortal:
    def __init__(self, files: dict[str, bytes], username="user", password="s3cret!"):
        self.files, self.username, self.password = files, username, password
        self.sessions: set[str] = set()
        self.empty_listings = 0  # answer this many listings with no links (an expired session's page)
        self.logins = 0
        self.redirect_downloads_to: str | None = None  # answer downloads with a 302 to this address
        self.content_length_delta = 0  # announce this many bytes more than a download sends
        self.requests: list[str] = []
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _session(self):
                cookie = SimpleCookie(self.headers.get("Cookie", ""))
                token = cookie.get("JSESSIONID")
                return token.value if token and token.value in portal.sessions and "affiliation" in cookie else None

            def do_POST(self):
                portal.requests.append(f"POST {self.path}")
                length = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if self.path != f"{PREFIX}/static/j_spring_security_check":
                    return self._send(404, b"")
                portal.logins += 1
                ok = form.get("j_username") == [portal.username] and form.get("j_password") == [portal.password]
                self.send_response(302)
                self.send_header("Location", f"{PREFIX}/" if ok else f"{PREFIX}/login?error")
                if ok:
                    token = secrets.token_hex(8)
                    portal.sessions.add(token)
                    self.send_header("Set-Cookie", f"JSESSIONID={token}; Path=/")
                self.end_headers()

            def do_GET(self):
                portal.requests.append(f"GET {self.path}")
                path = self.path
                if path.startswith(f"{PREFIX}/signup"):
                    self.send_response(200)
                    self.send_header("Set-Cookie", "affiliation=1; Path=/")
                    self.end_headers()
                    self.wfile.write(b"<html>welcome</html>")
                    return
                if path == f"{PREFIX}/affiliation/xml/?files":
                    if portal.empty_listings:
                        portal.empty_listings -= 1
                        return self._send(200, b"<html><body>Please log in</body></html>")
                    if not self._session():
                        return self._send(401, b"")
                    links = []
                    for index, name in enumerate(portal.files):
                        href = (
                            name
                            if index % 2
                            else f"http://127.0.0.1:{portal.port}{PREFIX}/affiliation/xml/files/{name}"
                        )
                        links.append(f'<a href="{href}">{name}</a>')
                    return self._send(200, ("<html><body>" + "<br>".join(links) + "</body></html>").encode())
                if path.startswith(f"{PREFIX}/affiliation/xml/files/"):
                    if not self._session():
                        return self._send(401, b"")
                    name = urllib.parse.unquote(path.rsplit("/", 1)[1])
                    if name not in portal.files:
                        return self._send(404, b"")
                    if portal.redirect_downloads_to:
                        self.send_response(302)
                        self.send_header("Location", portal.redirect_downloads_to + name)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    return self._send(200, portal.files[name], "application/zip", portal.content_length_delta)
                if path.startswith(f"{PREFIX}/elsewhere/"):  # a same-origin redirect target
                    return self._send(
                        200, portal.files[urllib.parse.unquote(path.rsplit("/", 1)[1])], "application/zip"
                    )
                return self._send(404, b"")

            def _send(self, status, body, content_type="text/html", length_delta=0):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body) + length_delta))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}{PREFIX}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def expire_sessions(self):
        self.sessions.clear()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def portal_files(paths: list[Path]) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in paths}
