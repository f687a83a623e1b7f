"""Prometheus and Alertmanager (Debian's ``prometheus``, ``prometheus-alertmanager``) and a tiny
exporter, for tests, benchmarks and the demo; standard library only.

::

    with MetricsExporter() as exporter, Alertmanager() as am, Prometheus(
        targets={"app": [exporter.address, f"127.0.0.1:{free_port()}"]},   # one up, one down
        rules=FIRING_RULES,
        alertmanager=am,
    ) as prom:
        prom.wait_until("count(up) == 2")                   # both targets scraped once
        prom.query("up")                                   # the API's "data"
        am.wait_for_alerts(1)                              # Prometheus sent its firing alerts
        env = prometheus_pack_environ(prom, am)            # OPSPACK_PROMETHEUS_URL ...

Both servers run in the foreground on a free loopback port with their data in the launcher's
temporary folder; Alertmanager without a gossip port (``--cluster.listen-address=``).
Prometheus scrapes and evaluates every second (``interval``), so a rule with ``expr: vector(1)``
fires at once and a target's health is known within a second. Needs
``apt-get install prometheus prometheus-alertmanager`` (``$OPSPACK_PROMETHEUS_BIN`` and
``$OPSPACK_ALERTMANAGER_BIN`` name other binaries).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from opspack_testkit.servers.process import ManagedProcess, ServerError

if TYPE_CHECKING:
    from opspack_testkit.tls import CertFiles

__all__ = [
    "APT_PACKAGES",
    "FIRING_RULES",
    "TEST_PASSWORD",
    "TEST_PASSWORD_BCRYPT",
    "TEST_USER",
    "Alertmanager",
    "MetricsExporter",
    "Prometheus",
    "PrometheusError",
    "PrometheusUnavailable",
    "alertmanager_binary",
    "openmetrics",
    "prometheus_binary",
    "prometheus_pack_environ",
]

APT_PACKAGES = ("prometheus", "prometheus-alertmanager")

#: alerting rules for tests: two fire at once (``vector(1)``), one stays pending for an hour,
#: one fires for every target that is down, and one recording rule
FIRING_RULES = """\
groups:
  - name: opspack-test
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: critical, team: ops}
        annotations: {summary: "This alert always fires"}
      - alert: DiskAlmostFull
        expr: vector(1)
        labels: {severity: warning, team: storage}
        annotations: {summary: "Disk on db1 is 91% full"}
      - alert: SlowBurn
        expr: vector(1)
        for: 1h
        labels: {severity: warning, team: ops}
        annotations: {summary: "Pending for an hour before it fires"}
      - alert: TargetDown
        expr: up == 0
        labels: {severity: critical, team: ops}
        annotations: {summary: "{{ $labels.instance }} of {{ $labels.job }} is down"}
      - record: job:up:sum
        expr: sum by (job) (up)
"""


#: a user and password for ``Prometheus(basic_auth_users=...)``, with the password's bcrypt hash
#: (cost 4: quick to check), as Prometheus's web configuration file takes it
TEST_USER = "opspack"
TEST_PASSWORD = "opspack-test-password"
TEST_PASSWORD_BCRYPT = "$2b$04$UiUcl1VrkvzUF2LndEPJuOpNFQcekezhwaHOnIQomcfd2ZtOVOn.e"


class PrometheusUnavailable(RuntimeError):
    """The ``prometheus`` or ``prometheus-alertmanager`` binary is not installed."""


class PrometheusError(ServerError):
    """A server did not start, or an API call to it failed."""


def _binary(env: str, name: str) -> Path:
    given = os.environ.get(env)
    if given:
        path = Path(given)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise PrometheusUnavailable(f"{env}={given} is not an executable file")
        return path
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
    if not found:
        raise PrometheusUnavailable(
            f"{name} is not installed; install: apt-get install -y prometheus prometheus-alertmanager"
        )
    return Path(found)


def prometheus_binary() -> Path:
    """The ``prometheus`` to run: ``$OPSPACK_PROMETHEUS_BIN``, else the one on ``PATH``."""
    return _binary("OPSPACK_PROMETHEUS_BIN", "prometheus")


def alertmanager_binary() -> Path:
    """The Alertmanager to run: ``$OPSPACK_ALERTMANAGER_BIN``, else ``prometheus-alertmanager``."""
    return _binary("OPSPACK_ALERTMANAGER_BIN", "prometheus-alertmanager")


def _http(method: str, url: str, body: Any = None, *, timeout: float = 10.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - loopback URL
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raise PrometheusError(f"{method} {url}: HTTP {exc.code}: {exc.read()[:300]!r}") from None
    return json.loads(raw) if raw.strip() else None


def _ready(url: str) -> bool:
    # a test certificate: whether it answers is the question here, not whom it trusts
    context = ssl._create_unverified_context() if url.startswith("https:") else None  # noqa: S323
    try:
        with urllib.request.urlopen(url, timeout=1, context=context) as resp:  # noqa: S310 - loopback URL
            return bool(resp.status == 200)
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # it answers, behind basic auth
    except (OSError, urllib.error.URLError):
        return False


class _Server(ManagedProcess):
    error = PrometheusError
    #: ``https`` when the server presents a certificate
    scheme = "http"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with TLS)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` (a scrape target)."""
        return f"{self.host}:{self.port}"

    def ready(self) -> bool:
        """``/-/ready`` answers 200."""
        return bool(self.port) and _ready(f"{self.url}/-/ready")

    def _wait(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise self.error(f"{self.name}: {what} did not happen within {timeout:g} s")
            time.sleep(0.1)


class Alertmanager(_Server):
    """A running Alertmanager on loopback (one receiver that sends nothing); a context manager.

    Args:
        group_by: the route's ``group_by`` labels.
        port: TCP port on 127.0.0.1 (0: a free one).
    """

    name = "alertmanager"

    def __init__(self, *, group_by: Sequence[str] = ("alertname",), port: int = 0, start_timeout: float = 30.0) -> None:
        super().__init__(port=port, start_timeout=start_timeout)
        self.group_by = list(group_by)
        self.binary: Path | None = None

    def prepare(self) -> None:
        """Find the binary and write ``alertmanager.yml``."""
        self.binary = alertmanager_binary()
        group_by = ", ".join(json.dumps(label) for label in self.group_by)
        (self.workdir / "alertmanager.yml").write_text(
            "route:\n"
            "  receiver: nowhere\n"
            f"  group_by: [{group_by}]\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: nowhere\n",
            encoding="utf-8",
        )

    def command(self) -> list[str]:
        """``prometheus-alertmanager`` in the foreground, no gossip port."""
        assert self.binary is not None
        return [
            str(self.binary),
            f"--config.file={self.workdir / 'alertmanager.yml'}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    # -- the API ------------------------------------------------------------------------
    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: every alert Alertmanager holds."""
        return list(_http("GET", f"{self.url}/api/v2/alerts"))

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts``: alerts as Prometheus sends them (``labels``, ``annotations``,
        ``startsAt``, ``endsAt``); missing times are filled with now and an hour from now."""
        now = datetime.now(UTC)
        body = [
            {
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat(),
                **alert,
            }
            for alert in alerts
        ]
        _http("POST", f"{self.url}/api/v2/alerts", body)

    def silences(self) -> list[dict[str, Any]]:
        """``GET /api/v2/silences``."""
        return list(_http("GET", f"{self.url}/api/v2/silences"))

    def wait_for_alerts(self, count: int, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` alerts are active; return them."""
        self._wait(f"{count} active alerts", lambda: len(self.alerts()) >= count, timeout)
        return self.alerts()


class Prometheus(_Server):
    """A running Prometheus on loopback that scrapes and evaluates every ``interval``; a context manager.

    Args:
        targets: job name -> ``host:port`` addresses to scrape (``/metrics``); Prometheus scrapes itself
            as job ``prometheus`` unless ``scrape_self`` is false.
        rules: the text of a rules file (``FIRING_RULES``), or None.
        alertmanager: where to send alerts (an :class:`Alertmanager` or its ``host:port``).
        interval: scrape and evaluation interval.
        max_samples: ``--query.max-samples`` (None: Prometheus's default, 50 million).
        extra_scrape_configs: more ``scrape_configs`` entries, as YAML-ready dicts (JSON is YAML).
        history: samples from the past, as OpenMetrics text with timestamps (ending ``# EOF``),
            written into the TSDB with ``promtool tsdb create-blocks-from openmetrics`` before the
            server starts, so range queries find hours of data at once (see :func:`openmetrics`).
        basic_auth_users: user -> bcrypt hash of the password (``TEST_USER``/``TEST_PASSWORD_BCRYPT``):
            every request then needs HTTP basic auth (``--web.config.file``); the launcher's own
            :meth:`query` does not send it.
        tls: a certificate and key (``opspack_testkit.tls.TestCA(...).issue(...)``): Prometheus then
            serves HTTPS only, and :attr:`url` starts with ``https://``.
    """

    name = "prometheus"

    def __init__(
        self,
        *,
        targets: Mapping[str, Sequence[str]] | None = None,
        rules: str | None = None,
        alertmanager: Alertmanager | str | None = None,
        interval: str = "1s",
        max_samples: int | None = None,
        scrape_self: bool = True,
        extra_scrape_configs: Sequence[Mapping[str, Any]] = (),
        history: str | None = None,
        basic_auth_users: Mapping[str, str] | None = None,
        tls: CertFiles | None = None,
        port: int = 0,
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(port=port, start_timeout=start_timeout)
        self.targets = {job: list(addresses) for job, addresses in (targets or {}).items()}
        self.rules = rules
        self.alertmanager = alertmanager
        self.interval = interval
        self.max_samples = max_samples
        self.scrape_self = scrape_self
        self.extra_scrape_configs = [dict(c) for c in extra_scrape_configs]
        self.history = history
        self.basic_auth_users = dict(basic_auth_users or {})
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self.binary: Path | None = None

    def prepare(self) -> None:
        """Find the binary; write ``prometheus.yml`` (JSON, which is YAML) and the rules file."""
        self.binary = prometheus_binary()
        jobs = dict(self.targets)
        if self.scrape_self:
            jobs = {"prometheus": [self.address], **jobs}
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": addresses}]} for job, addresses in jobs.items()
            ]
            + self.extra_scrape_configs,
        }
        if self.rules is not None:
            (self.workdir / "rules.yml").write_text(self.rules, encoding="utf-8")
            config["rule_files"] = [str(self.workdir / "rules.yml")]
        if self.alertmanager is not None:
            address = self.alertmanager.address if isinstance(self.alertmanager, Alertmanager) else self.alertmanager
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [address]}]}]}
        (self.workdir / "prometheus.yml").write_text(json.dumps(config, indent=2), encoding="utf-8")
        if self._web_config():
            (self.workdir / "web.yml").write_text(json.dumps(self._web_config()), encoding="utf-8")
        if self.history is not None:
            (self.workdir / "history.om").write_text(self.history, encoding="utf-8")
            promtool = self.binary.with_name("promtool")
            tool = str(promtool) if promtool.is_file() else (shutil.which("promtool") or "promtool")
            history = str(self.workdir / "history.om")
            self.run(
                [tool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", history, str(self.workdir / "data")]
            )

    def command(self) -> list[str]:
        """``prometheus`` in the foreground, its TSDB in the temporary folder."""
        assert self.binary is not None
        cmd = [
            str(self.binary),
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            # alerts evaluated before Alertmanager was discovered (about 5 s) are sent again at
            # once rather than after the default minute
            f"--rules.alert.resend-delay={self.interval}",
            "--log.level=warn",
        ]
        if self.max_samples is not None:
            cmd.append(f"--query.max-samples={self.max_samples}")
        if self._web_config():
            cmd.append(f"--web.config.file={self.workdir / 'web.yml'}")
        return cmd

    def _web_config(self) -> dict[str, Any]:
        web: dict[str, Any] = {}
        if self.basic_auth_users:
            web["basic_auth_users"] = self.basic_auth_users
        if self.tls is not None:
            web["tls_server_config"] = {"cert_file": str(self.tls.cert), "key_file": str(self.tls.key)}
        return web

    # -- the API ------------------------------------------------------------------------
    def query(self, promql: str) -> Any:
        """An instant query; the API's ``data`` (``{"resultType", "result"}``)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        return _http("GET", url)["data"]

    def wait_until(self, promql: str, *, timeout: float = 30.0) -> None:
        """Wait until an instant query answers a non-empty result (``count(up) == 2``)."""
        self._wait(f"`{promql}` answering", lambda: bool(self.query(promql)["result"]), timeout)


class MetricsExporter:
    """A tiny Prometheus exporter in a thread of this process: ``GET /metrics`` on a free
    loopback port answers the text exposition format, with a few series whose names carry
    units (``_bytes``, ``_seconds``, ``_ratio``) and a counter that grows with each scrape.

    Args:
        metrics: extra exposition text appended to the built-in series.
    """

    def __init__(self, *, metrics: str = "", host: str = "127.0.0.1") -> None:
        self.extra = metrics
        self.host = host
        self.scrapes = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on (while it runs)."""
        if self._server is None:
            raise PrometheusError("the exporter is not started")
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` (a scrape target)."""
        return f"{self.host}:{self.port}"

    def exposition(self) -> str:
        """What ``/metrics`` answers now."""
        self.scrapes += 1
        n = self.scrapes
        lines = [
            "# HELP demo_memory_used_bytes Memory in use.",
            "# TYPE demo_memory_used_bytes gauge",
            'demo_memory_used_bytes{host="web1"} 1610612736',
            'demo_memory_used_bytes{host="web2"} 524288000',
            "# HELP demo_request_duration_seconds Mean request duration.",
            "# TYPE demo_request_duration_seconds gauge",
            'demo_request_duration_seconds{route="/checkout"} 0.25',
            'demo_request_duration_seconds{route="/login"} 0.0042',
            "# HELP demo_cache_hit_ratio Share of cache lookups that hit.",
            "# TYPE demo_cache_hit_ratio gauge",
            "demo_cache_hit_ratio 0.935",
            "# HELP demo_requests_total Requests served.",
            "# TYPE demo_requests_total counter",
            f'demo_requests_total{{code="200"}} {n * 10}',
            f'demo_requests_total{{code="500"}} {n}',
        ]
        return "\n".join(lines) + "\n" + self.extra

    def start(self) -> Self:
        """Serve in a daemon thread."""
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.exposition().encode() if self.path.startswith("/metrics") else b"not found\n"
                self.send_response(200 if self.path.startswith("/metrics") else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-exporter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def openmetrics(series: Mapping[str, Sequence[tuple[float, float]]], *, kind: str = "gauge") -> str:
    """OpenMetrics text for :class:`Prometheus`'s ``history``: series selector -> (epoch seconds,
    value) points in time order (no space after a label's comma), e.g.
    ``{'bench_load{host="web1"}': [(t0, 1.0), (t0 + 30, 1.5)]}``."""
    families: dict[str, list[str]] = {}
    for selector, points in series.items():
        family = selector.split("{", 1)[0]
        lines = families.setdefault(family, [f"# TYPE {family} {kind}"])
        lines.extend(f"{selector} {value!r} {stamp:.3f}" for stamp, value in points)
    return "\n".join(line for lines in families.values() for line in lines) + "\n# EOF\n"


def prometheus_pack_environ(prometheus: Prometheus, alertmanager: Alertmanager | None = None) -> dict[str, str]:
    """The prometheus pack's settings for these servers (``OPSPACK_PROMETHEUS_URL`` ...)."""
    env = {"OPSPACK_PROMETHEUS_URL": prometheus.url}
    if alertmanager is not None:
        env["OPSPACK_PROMETHEUS_ALERTMANAGER_URL"] = alertmanager.url
    return env
