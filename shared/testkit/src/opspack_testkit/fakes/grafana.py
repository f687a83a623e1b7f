"""A fake Grafana on loopback: the HTTP API endpoints the grafana pack uses.

Payload shapes follow Grafana's HTTP API reference and its OpenAPI (swagger) spec:
- search: https://grafana.com/docs/grafana/latest/developers/http_api/folder_dashboard_search/
  (``GET /api/search``: id, uid, title, uri, url, slug, type ``dash-db``, tags, isStarred,
  folderUid, folderTitle, folderUrl)
- dashboards: https://grafana.com/docs/grafana/latest/developers/http_api/dashboard/
  (``GET /api/dashboards/uid/:uid`` -> ``{"dashboard": {...}, "meta": {"slug", "url", "folderTitle", ...}}``;
  404 ``{"message": "Dashboard not found"}``)
- rendering: pkg/api/render.go (``RenderToPng``: width/height default 800x400, ``timeout``,
  ``scale``, ``tz``; answers ``Content-Type: image/png``). With no renderer installed Grafana
  still answers HTTP 200 with the fixed picture ``public/img/rendering_plugin_not_installed.png``
  (pkg/services/rendering/rendering.go ``renderUnavailableImage``); when rendering fails it
  answers HTTP 500 with its HTML error page "Rendering failed." (``c.Handle(500, ...)``),
  which is also what Grafana 13, which dropped the renderer plugin, answers.
  ``GET /api/frontend/settings`` carries ``rendererAvailable`` and ``rendererVersion``
  (pkg/api/dtos/frontend_settings.go).
- alerting: ``GET /api/prometheus/grafana/api/v1/rules`` (RuleResponse / RuleGroup / AlertingRule
  in pkg/services/ngalert/api/tooling/definitions/prom.go: status, data.groups[].{name, file,
  rules[].{state, name, query, health, lastError, type, labels, annotations, alerts[]}, interval});
  silences: Alertmanager API v2 under ``/api/alertmanager/grafana/api/v2/silences``
  (postableSilence -> ``{"silenceID"}``; gettableSilence with ``status.state`` active|pending|expired):
  https://grafana.com/docs/grafana/latest/developers/http_api/alerting_provisioning/ and the
  Alertmanager OpenAPI (api/v2/openapi.yaml)
- annotations: https://grafana.com/docs/grafana/latest/developers/http_api/annotations/
  (``POST /api/annotations`` -> ``{"message": "Annotation added", "id": 1}``)
- data sources: https://grafana.com/docs/grafana/latest/developers/http_api/data_source/
  (``GET /api/datasources``; ``GET /api/datasources/uid/:uid/health`` -> 200 ``{"status": "OK",
  "message"}``, 400 with ``"status": "ERROR"`` when the check fails (pkg/api/datasources.go),
  404 ``{"message": "Not found"}`` when the plugin has no health check)
- ``GET /api/health`` -> ``{"commit", "database": "ok", "version"}`` (no authentication)
- a bad token: 401 ``{"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401}``
  (pkg/services/authn/clients/api_key.go ``errAPIKeyInvalid``)
"""

from __future__ import annotations

import itertools
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from opspack_testkit.fakes.http import FakeHTTPServer, FakeService, Request, Response

TOKEN = "glsa_fakeServiceAccountToken_0123456789abcdef"
#: the size of Grafana's "no image renderer available/installed" picture in the fake
PLACEHOLDER_SIZE = (1069, 349)


def make_png(width: int, height: int, rgb: tuple[int, int, int] = (22, 23, 29)) -> bytes:
    """A real RGB PNG of ``width`` x ``height`` (a dark background with a green line), stdlib only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    background = bytes(rgb) * width
    line = bytes((115, 191, 105)) * width
    mid = height // 2
    raw = b"".join(b"\x00" + (line if y == mid else background) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def _dashboard(uid: str, title: str, folder: str, panels: list[dict[str, Any]], variables: list[str]) -> dict[str, Any]:
    slug = title.lower().replace(" ", "-")
    return {
        "dashboard": {
            "id": abs(hash(uid)) % 1000,
            "uid": uid,
            "title": title,
            "tags": ["prod"] if "Checkout" in title else [],
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 3,
            "panels": panels,
            "templating": {"list": [{"name": v, "type": "custom", "current": {}} for v in variables]},
        },
        "meta": {
            "type": "db",
            "canSave": True,
            "canEdit": True,
            "slug": slug,
            "url": f"/d/{uid}/{slug}",
            "folderUid": folder.lower(),
            "folderTitle": folder,
            "folderUrl": f"/dashboards/f/{folder.lower()}/",
            "provisioned": False,
        },
    }


def default_dashboards() -> dict[str, dict[str, Any]]:
    """The dashboards the fake starts with, by uid."""
    checkout = _dashboard(
        "chk0ut01",
        "Checkout Service",
        "Payments",
        [
            {"id": 1, "type": "timeseries", "title": "Request rate", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8}},
            {"id": 2, "type": "timeseries", "title": "Latency p99", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 8}},
            {"id": 3, "type": "timeseries", "title": "Latency p50", "gridPos": {"x": 0, "y": 8, "w": 12, "h": 8}},
            {
                "id": 10,
                "type": "row",
                "title": "Errors",
                "collapsed": True,
                "panels": [{"id": 11, "type": "stat", "title": "Error ratio"}],
            },
        ],
        ["env", "instance"],
    )
    api = _dashboard(
        "apiL4t3ncy",
        "API latency",
        "Platform",
        [{"id": 4, "type": "timeseries", "title": "Latency by route"}],
        [],
    )
    api2 = _dashboard(
        "apiErr0rs",
        "API errors",
        "Platform",
        [{"id": 5, "type": "timeseries", "title": "5xx rate"}],
        [],
    )
    return {d["dashboard"]["uid"]: d for d in (checkout, api, api2)}


def default_rules() -> dict[str, Any]:
    """The alert rules the fake starts with (``GET /api/prometheus/grafana/api/v1/rules`` shape)."""

    def rule(name: str, state: str, health: str = "ok", alerts: int = 0, summary: str = "") -> dict[str, Any]:
        return {
            "state": state,
            "name": name,
            "query": "[{...}]",
            "duration": 300,
            "annotations": {"summary": summary} if summary else {},
            "alerts": [
                {
                    "labels": {"alertname": name, "instance": f"web{i}"},
                    "annotations": {},
                    "state": "Alerting" if state == "firing" else "Pending",
                    "activeAt": f"2024-05-01T10:0{i}:00Z",
                    "value": "",
                }
                for i in range(alerts)
            ],
            "labels": {"severity": "critical"},
            "health": health,
            "lastError": "datasource unavailable" if health == "error" else "",
            "type": "alerting",
            "lastEvaluation": "2024-05-01T10:15:00Z",
            "evaluationTime": 0.012,
        }

    return {
        "status": "success",
        "data": {
            "groups": [
                {
                    "name": "checkout",
                    "file": "Payments",
                    "folderUid": "payments",
                    "rules": [
                        rule("HighErrorRate", "firing", alerts=2, summary="5xx above 5%"),
                        rule("SlowCheckout", "pending", alerts=1),
                        rule("CheckoutDown", "inactive"),
                    ],
                    "interval": 60,
                    "lastEvaluation": "2024-05-01T10:15:00Z",
                    "evaluationTime": 0.03,
                },
                {
                    "name": "platform",
                    "file": "Platform",
                    "folderUid": "platform",
                    "rules": [rule("DiskFull", "inactive", health="error")],
                    "interval": 60,
                    "lastEvaluation": "2024-05-01T10:15:00Z",
                    "evaluationTime": 0.01,
                },
            ]
        },
    }


def default_datasources() -> list[dict[str, Any]]:
    """The data sources the fake starts with (``GET /api/datasources`` shape)."""

    def ds(i: int, name: str, kind: str, type_name: str, default: bool = False) -> dict[str, Any]:
        return {
            "id": i,
            "uid": f"ds-{name.lower()}",
            "orgId": 1,
            "name": name,
            "type": kind,
            "typeName": type_name,
            "typeLogoUrl": f"public/app/plugins/datasource/{kind}/img/logo.svg",
            "access": "proxy",
            "url": f"http://{name.lower()}:9090",
            "user": "",
            "database": "",
            "basicAuth": False,
            "isDefault": default,
            "jsonData": {},
            "readOnly": False,
        }

    return [
        ds(1, "Prometheus", "prometheus", "Prometheus", default=True),
        ds(2, "Loki", "loki", "Loki"),
        ds(3, "Legacy", "grafana-simple-json-datasource", "SimpleJson"),
    ]


@dataclass
class FakeGrafana(FakeService):
    """The fake server and its state; ``renderer``: "ok", "missing" (placeholder PNG, no renderer),
    "removed" (HTTP 500 and no renderer, as Grafana 13) or "broken" (HTTP 500, renderer installed)."""

    token: str = TOKEN
    renderer: str = "ok"
    dashboards: dict[str, dict[str, Any]] = field(default_factory=default_dashboards)
    rules: dict[str, Any] = field(default_factory=default_rules)
    datasources: list[dict[str, Any]] = field(default_factory=default_datasources)
    health_failing: set[str] = field(default_factory=lambda: {"ds-loki"})
    silences: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    server: FakeHTTPServer = field(default_factory=FakeHTTPServer)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        s = self.server
        s.before.append(self._auth)
        s.route("GET", r"/api/health")(self._health)
        s.route("GET", r"/api/frontend/settings")(self._frontend_settings)
        s.route("GET", r"/api/search")(self._search)
        s.route("GET", r"/api/dashboards/uid/([^/]+)")(self._dashboard)
        s.route("GET", r"/render/d-solo/([^/]+)/([^/]+)")(self._render)
        s.route("GET", r"/api/prometheus/grafana/api/v1/rules")(lambda r: Response.json(self.rules))
        s.route("GET", r"/api/alertmanager/grafana/api/v2/silences")(lambda r: Response.json(self.silences))
        s.route("POST", r"/api/alertmanager/grafana/api/v2/silences")(self._post_silence)
        s.route("POST", r"/api/annotations")(self._post_annotation)
        s.route("GET", r"/api/datasources")(lambda r: Response.json(self.datasources))
        s.route("GET", r"/api/datasources/uid/([^/]+)/health")(self._ds_health)

    # -- lifecycle ----------------------------------------------------------------
    def reset(self) -> None:
        """Back to the initial state, keeping the server running (one server per test session)."""
        self.dashboards = default_dashboards()
        self.rules = default_rules()
        self.datasources = default_datasources()
        self.health_failing = {"ds-loki"}
        self.silences = []
        self.annotations = []
        self.renderer = "ok"
        self.token = TOKEN
        self._ids = itertools.count(1)
        with self.server.lock:
            self.server.requests.clear()
        self.server.before[:] = [self._auth]

    def environ(self, **extra: str) -> dict[str, str]:
        """The grafana pack's settings pointing at this fake, plus ``extra``."""
        return {"OPSPACK_GRAFANA_URL": self.url, "OPSPACK_GRAFANA_TOKEN": self.token, **extra}

    def paths(self) -> list[str]:
        """The paths of every request received so far, in order."""
        return [r.path for r in self.server.requests]

    # -- handlers -----------------------------------------------------------------
    def _auth(self, req: Request) -> Response | None:
        if req.path == "/api/health":
            return None
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return Response.json(
                {"extra": None, "message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401},
                status=401,
            )
        return None

    def _health(self, req: Request) -> Response:
        return Response.json({"commit": "c5e1b6e1", "database": "ok", "version": "11.2.0"})

    def _frontend_settings(self, req: Request) -> Response:
        available = self.renderer not in ("missing", "removed")
        return Response.json(
            {
                "rendererAvailable": available,
                "rendererVersion": "3.11.0" if available else "",
                "buildInfo": {"version": "11.2.0", "commit": "c5e1b6e1", "env": "production"},
                "appSubUrl": "",
            }
        )

    def _search(self, req: Request) -> Response:
        query = (req.arg("query") or "").lower()
        uids = set(req.query.get("dashboardUIDs", []))
        tags = set(req.query.get("tag", []))
        limit = int(req.arg("limit", "1000") or 1000)
        hits = []
        for uid, d in self.dashboards.items():
            dash, meta = d["dashboard"], d["meta"]
            if query and query not in dash["title"].lower():
                continue
            if uids and uid not in uids:
                continue
            if tags and not tags <= set(dash["tags"]):
                continue
            hits.append(
                {
                    "id": dash["id"],
                    "uid": uid,
                    "title": dash["title"],
                    "uri": f"db/{meta['slug']}",
                    "url": meta["url"],
                    "slug": "",
                    "type": "dash-db",
                    "tags": dash["tags"],
                    "isStarred": False,
                    "folderUid": meta["folderUid"],
                    "folderTitle": meta["folderTitle"],
                    "folderUrl": meta["folderUrl"],
                    "sortMeta": 0,
                }
            )
        hits.sort(key=lambda h: h["title"].lower())
        return Response.json(hits[:limit])

    def _dashboard(self, req: Request) -> Response:
        assert req.match is not None
        d = self.dashboards.get(req.match.group(1))
        if d is None:
            return Response.json({"message": "Dashboard not found"}, status=404)
        return Response.json(d)

    def _render(self, req: Request) -> Response:
        if self.renderer in ("broken", "removed"):
            page = (
                "<!DOCTYPE html><html><head><title>Grafana</title></head><body><h1>Rendering failed.</h1></body></html>"
            )
            return Response(500, page.encode(), {"Content-Type": "text/html; charset=UTF-8"})
        if self.renderer == "missing":
            return Response(200, make_png(*PLACEHOLDER_SIZE, rgb=(200, 200, 200)), {"Content-Type": "image/png"})
        assert req.match is not None
        if req.match.group(1) not in self.dashboards:
            return Response(200, make_png(400, 200, rgb=(80, 0, 0)), {"Content-Type": "image/png"})
        width = int(req.arg("width", "800") or 800)
        height = int(req.arg("height", "400") or 400)
        return Response(200, make_png(width, height), {"Content-Type": "image/png"})

    def _post_silence(self, req: Request) -> Response:
        body = req.json()
        if not body.get("matchers"):
            return Response.json({"message": "silence invalid: at least one matcher required"}, status=400)
        if body.get("endsAt", "") <= body.get("startsAt", ""):
            return Response.json({"message": "silence invalid: end time must not be before start time"}, status=400)
        sid = str(uuid.uuid4())
        self.silences.append(
            {
                "id": sid,
                "status": {"state": "active"},
                "updatedAt": body["startsAt"],
                **{k: body[k] for k in ("matchers", "startsAt", "endsAt", "createdBy", "comment")},
            }
        )
        return Response.json({"silenceID": sid}, status=202)

    def _post_annotation(self, req: Request) -> Response:
        body = req.json()
        if not body.get("text"):
            return Response.json({"message": "Failed to save annotation: text is empty"}, status=400)
        aid = next(self._ids)
        self.annotations.append({"id": aid, **body})
        return Response.json({"message": "Annotation added", "id": aid})

    def _ds_health(self, req: Request) -> Response:
        assert req.match is not None
        uid = req.match.group(1)
        ds = next((d for d in self.datasources if d["uid"] == uid), None)
        if ds is None:
            return Response.json({"message": "Data source not found"}, status=404)
        if ds["type"] == "grafana-simple-json-datasource":
            return Response.json({"message": "Not found"}, status=404)
        if uid in self.health_failing:
            return Response.json(
                {"status": "ERROR", "message": "Unable to connect with Loki. Please check the server logs."}, status=400
            )
        return Response.json({"status": "OK", "message": "Successfully queried the Prometheus API."})
