"""A small Grafana HTTP API client on requests: one kept session, errors as GrafanaError.

Command modules import this lazily (through :mod:`opspack_grafana.connection`), so
listing commands never imports requests. Endpoints follow Grafana's HTTP API
reference (https://grafana.com/docs/grafana/latest/developers/http_api/).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import requests

from opspack_grafana.errors import GrafanaError


class GrafanaClient:
    """Grafana's HTTP API for one base URL and service account token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        org_id: int = 0,
        verify: bool | str = True,
        timeout: float = 15.0,
    ) -> None:
        self.base = url.rstrip("/")
        self.timeout = timeout
        self.calls = 0
        self._lock = threading.Lock()
        #: given with every request: for a request without its own ``verify``, requests takes
        #: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE before the session's, overriding ca_file and verify_tls
        self.verify = verify
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        if org_id:
            self.session.headers["X-Grafana-Org-Id"] = str(org_id)
        self.org_id = org_id

    def close(self) -> None:
        self.session.close()

    # -- plumbing -------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        body: Any = None,
        timeout: float | None = None,
        ok: tuple[int, ...] = (200,),
        accept: str | None = None,
    ) -> requests.Response:
        """Send one request; a status outside ``ok`` raises :class:`GrafanaError`."""
        with self._lock:
            self.calls += 1
        headers = {"Accept": accept} if accept else None
        resp = self.session.request(
            method,
            self.base + path,
            params=params,
            json=body,
            headers=headers,
            timeout=timeout or self.timeout,
            verify=self.verify,
        )
        if resp.status_code not in ok:
            raise _error(resp, method, path)
        return resp

    def get(self, path: str, params: Any = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body=body).json()

    # -- endpoints ------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """GET /api/health: version, commit, database status (no auth needed)."""
        return dict(self.get("/api/health"))

    def frontend_settings(self) -> dict[str, Any]:
        """GET /api/frontend/settings (tells whether an image renderer is available)."""
        return dict(self.get("/api/frontend/settings"))

    def search(self, query: str = "", *, limit: int = 100, uids: list[str] | None = None) -> list[dict[str, Any]]:
        """GET /api/search for dashboards whose title matches ``query``."""
        params: list[tuple[str, str]] = [("type", "dash-db"), ("limit", str(limit))]
        if query:
            params.append(("query", query))
        for uid in uids or ():
            params.append(("dashboardUIDs", uid))
        return list(self.get("/api/search", params))

    def dashboard(self, uid: str) -> dict[str, Any]:
        """GET /api/dashboards/uid/<uid>: ``{"dashboard": {...}, "meta": {...}}``."""
        return dict(self.get(f"/api/dashboards/uid/{quote(uid, safe='')}"))

    def render_panel(
        self,
        uid: str,
        slug: str,
        panel_id: int | str,
        *,
        start: str,
        end: str,
        width: int,
        height: int,
        variables: list[tuple[str, str]] = (),  # type: ignore[assignment]
        timezone: str | None = None,
        render_timeout: int = 60,
    ) -> requests.Response:
        """GET /render/d-solo/<uid>/<slug>?panelId=...: the panel as a PNG (Grafana's image renderer)."""
        params: list[tuple[str, str]] = [
            ("panelId", str(panel_id)),
            ("from", start),
            ("to", end),
            ("width", str(width)),
            ("height", str(height)),
            ("timeout", str(render_timeout)),
        ]
        if self.org_id:
            params.append(("orgId", str(self.org_id)))
        if timezone:
            params.append(("tz", timezone))
        params.extend((f"var-{name}", value) for name, value in variables)
        path = f"/render/d-solo/{quote(uid, safe='')}/{quote(slug or '_', safe='')}"
        return self.request("GET", path, params=params, timeout=render_timeout + 10, accept="image/png")

    def rule_statuses(self) -> dict[str, Any]:
        """GET /api/prometheus/grafana/api/v1/rules: Grafana-managed rules with their state."""
        return dict(self.get("/api/prometheus/grafana/api/v1/rules"))

    def silences(self) -> list[dict[str, Any]]:
        """GET /api/alertmanager/grafana/api/v2/silences."""
        return list(self.get("/api/alertmanager/grafana/api/v2/silences"))

    def create_silence(self, silence: dict[str, Any]) -> str:
        """POST /api/alertmanager/grafana/api/v2/silences; returns the new silence's id."""
        resp = self.request("POST", "/api/alertmanager/grafana/api/v2/silences", body=silence, ok=(200, 202))
        return str(resp.json().get("silenceID", ""))

    def create_annotation(self, annotation: dict[str, Any]) -> int:
        """POST /api/annotations; returns the new annotation's id."""
        return int(self.post("/api/annotations", annotation).get("id", 0))

    def datasources(self) -> list[dict[str, Any]]:
        """GET /api/datasources."""
        return list(self.get("/api/datasources"))

    def datasource_health(self, uid: str) -> tuple[int, dict[str, Any]]:
        """GET /api/datasources/uid/<uid>/health: (HTTP status, ``{"status", "message"}``).

        Grafana answers 200 when the check passed, 400 with status ERROR when it failed,
        and 404 when the data source's plugin has no health check."""
        resp = self.request("GET", f"/api/datasources/uid/{quote(uid, safe='')}/health", ok=(200, 400, 404, 500, 503))
        try:
            payload = resp.json()
        except ValueError:
            payload = {}
        return resp.status_code, payload if isinstance(payload, dict) else {}


def _error(resp: requests.Response, method: str, path: str) -> GrafanaError:
    message, message_id = "", None
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = str(data.get("message") or data.get("error") or "")
        message_id = data.get("messageId")
    elif resp.text and "html" not in resp.headers.get("Content-Type", ""):
        message = resp.text.strip()[:200]
    return GrafanaError(resp.status_code, message or resp.reason or "", method, path, message_id)
