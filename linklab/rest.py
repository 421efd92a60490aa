"""A small client for Confluent Server's Admin REST API v3 (base URL `http://host:port/kafka`).

Returns parsed JSON; a reply with an error becomes RestError carrying Confluent's own
`error_code` and `message`, so callers can show them with the fix.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from linklab.security import Secret


class RestError(Exception):
    """The Admin REST API answered with an error (or did not answer at all: status 0)."""

    def __init__(self, status: int, error_code: int | None, message: str, url: str):
        self.status = status
        self.error_code = error_code
        self.message = message
        self.url = url
        code = f"error_code {error_code}" if error_code is not None else f"HTTP {status}"
        super().__init__(f"{message} ({code}) at {url}")


class AdminRest:
    """Admin REST API v3 of one Confluent Server cluster."""

    def __init__(
        self,
        base_url: str,
        timeout: float = 10.0,
        auth: tuple[str, Secret] | None = None,
        ca_file: str | None = None,
    ):
        """`auth`: an API key and its secret, sent as HTTP basic auth (Confluent Cloud's REST
        endpoints and a secured Confluent Platform). `ca_file`: the CA for an https endpoint
        (None: the system's trust store)."""
        # The embedded API lives under /kafka: http://host:8090/kafka/v3/clusters/...
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._auth = auth
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def __repr__(self) -> str:
        return f"AdminRest({self.base_url!r}, auth={'set' if self._auth else 'none'})"

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        url = f"{self.base_url}/v3/{path.lstrip('/')}"
        if query:
            url += "?" + urllib.parse.urlencode(
                {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in query.items()}
            )
        return url

    def request(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        url = self.url(path, query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self._auth is not None:
            key, secret = self._auth
            token = base64.b64encode(f"{key}:{secret.reveal()}".encode()).decode()
            req.add_unredirected_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._context) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise _error_from(e.code, e.read(), url) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RestError(0, None, f"no answer ({reason})", url) from None
        if not raw:
            return None  # 204 No Content: creating links and mirrors answers so
        return json.loads(raw)

    def get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body, query)

    def delete(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, query=query)


def _error_from(status: int, raw: bytes, url: str) -> RestError:
    """Confluent's error body is {"error_code": N, "message": "..."}; some 4xx are plain text."""
    text = raw.decode(errors="replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return RestError(status, None, text[:300] or f"HTTP {status}", url)
    if isinstance(body, dict):
        return RestError(status, body.get("error_code"), str(body.get("message", text))[:500], url)
    return RestError(status, None, text[:300], url)


def items(reply: Any) -> list[dict]:
    """The `data` list of a v3 list reply ({"kind": ..., "metadata": ..., "data": [...]})."""
    if isinstance(reply, dict):
        data = reply.get("data", [])
        return data if isinstance(data, list) else []
    return reply if isinstance(reply, list) else []
