"""A small client on requests for Prometheus's HTTP API (v1) and Alertmanager's (v2).

One kept session serves both servers (the same proxy credentials and TLS settings);
errors are raised as :class:`~opspack_prometheus.errors.PrometheusError`. Command
modules import this lazily (through :mod:`opspack_prometheus.connection`), so listing
commands never imports requests. Endpoints follow
https://prometheus.io/docs/prometheus/latest/querying/api/ and Alertmanager's OpenAPI
specification (api/v2/openapi.yaml).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import requests

from opspack_prometheus.errors import PrometheusError

PROMETHEUS = "Prometheus"
ALERTMANAGER = "Alertmanager"


class PrometheusClient:
    """Prometheus (``url``) and, when given, Alertmanager (``alertmanager_url``), with one session."""

    def __init__(
        self,
        url: str,
        alertmanager_url: str = "",
        *,
        user: str = "",
        password: str = "",
        token: str = "",
        verify: bool | str = True,
        timeout: float = 15.0,
        query_timeout: float = 10.0,
    ) -> None:
        self.base = url.rstrip("/")
        self.alertmanager_base = alertmanager_url.rstrip("/")
        self.timeout = timeout
        self.query_timeout = query_timeout
        #: requests sent, per server name
        self.calls: dict[str, int] = {PROMETHEUS: 0, ALERTMANAGER: 0}
        self._lock = threading.Lock()
        #: given with every request: requests lets REQUESTS_CA_BUNDLE override a session's own verify
        self.verify = verify
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        elif user:
            self.session.auth = (user, password)

    def close(self) -> None:
        """End the kept session."""
        self.session.close()

    # -- plumbing -------------------------------------------------------------------
    def _send(self, service: str, method: str, url: str, path: str, **kwargs: Any) -> Any:
        with self._lock:
            self.calls[service] += 1
        timeout = kwargs.pop("timeout", self.timeout)
        resp = self.session.request(method, url, timeout=timeout, verify=self.verify, **kwargs)
        try:
            payload = resp.json() if resp.content else None
        except ValueError:
            payload = None
        if resp.status_code >= 400:
            raise _error(service, resp, payload, path)
        if service == PROMETHEUS:
            if not isinstance(payload, dict) or payload.get("status") != "success":
                raise PrometheusError(service, resp.status_code, "the answer is not Prometheus's API JSON", "", path)
            return payload.get("data")
        return payload

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """One Prometheus API call; its ``data``."""
        return self._send(PROMETHEUS, method, self.base + path, path, **kwargs)

    def am(self, method: str, path: str, **kwargs: Any) -> Any:
        """One Alertmanager API v2 call; its JSON body."""
        if not self.alertmanager_base:
            from opspack.errors import ConfigError

            raise ConfigError(
                "No Alertmanager is configured.",
                "Set OPSPACK_PROMETHEUS_ALERTMANAGER_URL to Alertmanager's URL, e.g. https://alertmanager.example.com",
            )
        return self._send(ALERTMANAGER, method, self.alertmanager_base + path, path, **kwargs)

    def _query_timeout(self) -> str:
        return f"{max(1, round(self.query_timeout * 1000))}ms"

    # -- Prometheus -----------------------------------------------------------------
    def query(self, promql: str, at: float | None = None) -> dict[str, Any]:
        """POST /api/v1/query: an instant query (``{"resultType", "result"}``)."""
        form = {"query": promql, "timeout": self._query_timeout()}
        if at is not None:
            form["time"] = f"{at:.3f}"
        return dict(self.api("POST", "/api/v1/query", data=form, timeout=self.timeout + self.query_timeout))

    def query_range(self, promql: str, start: float, end: float, step: float) -> dict[str, Any]:
        """POST /api/v1/query_range: a range query (``resultType`` matrix)."""
        form = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
            "timeout": self._query_timeout(),
        }
        return dict(self.api("POST", "/api/v1/query_range", data=form, timeout=self.timeout + self.query_timeout))

    def targets(self) -> dict[str, Any]:
        """GET /api/v1/targets?state=active: ``{"activeTargets": [...]}``."""
        return dict(self.api("GET", "/api/v1/targets", params={"state": "active"}))

    def rules(self, kind: str | None = None) -> list[dict[str, Any]]:
        """GET /api/v1/rules: the rule groups (``kind``: ``alert`` or ``record`` only)."""
        params = {"type": kind} if kind else None
        return list(self.api("GET", "/api/v1/rules", params=params).get("groups") or [])

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v1/alerts: pending and firing alerts as Prometheus's rules see them."""
        return list(self.api("GET", "/api/v1/alerts").get("alerts") or [])

    # -- Alertmanager ---------------------------------------------------------------
    def alert_groups(self, filters: Sequence[str] = (), *, silenced: bool = False) -> list[dict[str, Any]]:
        """GET /api/v2/alerts/groups: every matching alert, grouped by the route's group_by, in one call.

        ``filters`` are matchers such as ``severity="critical"``; silenced and inhibited
        alerts are included only with ``silenced``."""
        params: list[tuple[str, str]] = [
            ("active", "true"),
            ("silenced", str(silenced).lower()),
            ("inhibited", str(silenced).lower()),
        ]
        params.extend(("filter", f) for f in filters)
        return list(self.am("GET", "/api/v2/alerts/groups", params=params) or [])

    def silences(self) -> list[dict[str, Any]]:
        """GET /api/v2/silences."""
        return list(self.am("GET", "/api/v2/silences") or [])

    def create_silence(self, silence: dict[str, Any]) -> str:
        """POST /api/v2/silences; the new silence's id."""
        return str((self.am("POST", "/api/v2/silences", json=silence) or {}).get("silenceID", ""))

    def expire_silence(self, silence_id: str) -> None:
        """DELETE /api/v2/silence/<id>: expire a silence now."""
        self.am("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")


def _error(service: str, resp: requests.Response, payload: Any, path: str) -> PrometheusError:
    message, error_type = "", ""
    if isinstance(payload, dict):
        message = str(payload.get("error") or payload.get("message") or "")
        error_type = str(payload.get("errorType") or "")
    elif isinstance(payload, str):
        message = payload
    elif resp.text and "html" not in resp.headers.get("Content-Type", ""):
        message = resp.text.strip()[:300]
    return PrometheusError(service, resp.status_code, message.strip() or resp.reason or "", error_type, path)
