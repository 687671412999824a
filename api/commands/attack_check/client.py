"""The appliance as the attack check talks to it: HTTP from chosen loopback source addresses."""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core.errors import UserError

ATTACKER = "127.0.0.5"  # the flood's address; the admin's is another loopback address
ADMIN = "127.0.0.6"
COOKIE = "bodypix_session"


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def detail(self) -> str:
        data = self.json()
        return (
            str(data.get("detail")) if isinstance(data, dict) else self.body[:120].decode("latin-1")
        )


class Panel:
    """A minimal client of the panel API over http.client, from a chosen loopback address."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise UserError(
                f"--url {url!r} is not an http:// URL; give e.g. http://127.0.0.1:8080."
            )
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout
        self.cookie: str | None = None

    def connection(self, source: str | None = None) -> http.client.HTTPConnection:
        address = (source, 0) if source else None
        return http.client.HTTPConnection(
            self.host, self.port, timeout=self.timeout, source_address=address
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        source: str | None = None,
        session: bool = True,
    ) -> Answer:
        sent = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if session and self.cookie:
            sent["Cookie"] = f"{COOKIE}={self.cookie}"
        conn = self.connection(source)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return Answer(response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()

    def login(self, password: str, source: str | None = None) -> Answer:
        answer = self.request(
            "POST", "/api/login", {"password": password}, source=source, session=False
        )
        if answer.status == 200 and source is None:
            cookie = answer.headers.get("set-cookie", "")
            self.cookie = cookie.split(";", 1)[0].split("=", 1)[1] if "=" in cookie else None
        return answer

    def upload(self, filename: str, data: bytes) -> Answer:
        """`data` posted to the background library as a JPEG upload named `filename`."""
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request(
            "POST",
            "/api/backgrounds",
            raw=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )

    def status(self) -> dict[str, Any]:
        answer = self.request("GET", "/api/status")
        data = answer.json()
        return data if answer.status == 200 and isinstance(data, dict) else {}

    def healthy(self) -> bool:
        try:
            return self.request("GET", "/healthz", session=False).status == 200
        except OSError:
            return False


def check_loopback(url: str) -> None:
    """Refuse anything but this machine: the command sends attacks."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise UserError(f"Cannot resolve {host!r}; give --url http://127.0.0.1:PORT.") from None
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or not all(
        ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses
    ):
        raise UserError(
            f"attack-check only runs against this machine's own appliance; {host!r} is not a "
            "loopback address (use 127.0.0.1 or ::1)."
        )
