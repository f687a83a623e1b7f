"""A small NITRO client over requests: one logged-in session per ADC and profile.

NITRO (https://developer-docs.netscaler.com/en-us/adc-nitro-api/current-release/) is
REST over ``/nitro/v1/config/<resource>`` and ``/nitro/v1/stat/<resource>``. A session
starts with ``POST /nitro/v1/config/login`` and is carried by the ``NITRO_AUTH_TOKEN``
cookie; ``POST /nitro/v1/config/logout`` ends it. Every answer is an envelope with
``errorcode``, ``message`` and ``severity``; failures raise :class:`NitroError`.

This module imports requests; command modules import it only when a command runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from opspack_netscaler.errors import NitroError

TOKEN_COOKIE = "NITRO_AUTH_TOKEN"  # noqa: S105 - the cookie's name, not a secret


class NitroClient:
    """A logged-in NITRO session. ``login()`` first; ``logout()`` when done."""

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        *,
        verify: bool | str = True,
        timeout: float = 60.0,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        self.base = url.rstrip("/")
        self.user = user
        self._password = password
        self.timeout = timeout
        #: given with every request: for a request without its own ``verify``, requests takes
        #: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE before the session's, overriding ca_file and verify_tls
        self.verify = verify
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json"})
        self.token: str | None = None
        self.expired = False
        self._on_token = on_token
        #: requests made through this client (login and logout included), for benchmarks and tests
        self.calls = 0

    # -- session -------------------------------------------------------------------
    def login(self) -> None:
        """Start a NITRO session (``POST /nitro/v1/config/login``) and keep its token."""
        body = {"login": {"username": self.user, "password": self._password}}
        data, resp = self._send("POST", "config/login", body=body, auth=False)
        token = resp.cookies.get(TOKEN_COOKIE) or str(data.get("sessionid") or "")
        if not token:
            raise NitroError(
                resp.status_code, None, "login answered without a session token", method="POST", resource="login"
            )
        self.token = token
        self.expired = False
        if self._on_token is not None:
            self._on_token(token)
        # Send the token ourselves: the ADC's cookie may be marked Secure or scoped to a path.
        self.session.cookies.clear()
        self.session.headers["Cookie"] = f"{TOKEN_COOKIE}={token}"

    def logout(self) -> None:
        """End the session (``POST /nitro/v1/config/logout``); quiet when it already ended."""
        if self.token is None:
            self.session.close()
            return
        try:
            if not self.expired:
                self._send("POST", "config/logout", body={"logout": {}})
        except (NitroError, requests.RequestException):
            pass
        finally:
            self.token = None
            self.session.headers.pop("Cookie", None)
            self.session.close()

    # -- resources -----------------------------------------------------------------
    def get(
        self,
        resource: str,
        name: str | None = None,
        *,
        args: Mapping[str, str] | None = None,
        filter: Mapping[str, str] | None = None,
        attrs: list[str] | None = None,
        stat: bool = False,
    ) -> list[dict[str, Any]]:
        """The records of a resource (``GET /nitro/v1/config/<resource>[/<name>]``)."""
        path = f"{'stat' if stat else 'config'}/{resource}"
        if name is not None:
            path += "/" + quote(name, safe="")
        query: dict[str, str] = {}
        if args:
            query["args"] = ",".join(f"{k}:{quote(str(v), safe='')}" for k, v in args.items())
        if filter:
            query["filter"] = ",".join(f"{k}:{quote(str(v), safe='')}" for k, v in filter.items())
        if attrs:
            query["attrs"] = ",".join(attrs)
        data, _ = self._send("GET", path, params=query)
        records = data.get(resource, [])
        if isinstance(records, dict):  # a few resources answer one object instead of a list
            records = [records]
        return [r for r in records if isinstance(r, dict)]

    def action(self, resource: str, action: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Run an action (``POST /nitro/v1/config/<resource>?action=<action>``)."""
        data, _ = self._send("POST", f"config/{resource}", params={"action": action}, body={resource: dict(payload)})
        return data

    # -- transport -----------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        auth: bool = True,
    ) -> tuple[dict[str, Any], requests.Response]:
        url = f"{self.base}/nitro/v1/{path}"
        # NITRO takes its own query syntax (args=a:b,c:d); keep ':' and ',' unescaped.
        query = "&".join(f"{k}={quote(v, safe=':,%')}" for k, v in (params or {}).items())
        if query:
            url += "?" + query
        headers = {"Content-Type": "application/json"} if body is not None else None
        self.calls += 1
        resp = self.session.request(
            method,
            url,
            data=json.dumps(body) if body is not None else None,
            headers=headers,
            timeout=self.timeout,
            verify=self.verify,
        )
        resource = path.split("/", 1)[1].split("/")[0]
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if resp.status_code >= 400:
                text = resp.text.strip().splitlines()[0][:200] if resp.text.strip() else resp.reason
                raise NitroError(resp.status_code, None, text or "error", method=method, resource=resource)
            raise NitroError(resp.status_code, None, "the answer is not NITRO JSON", method=method, resource=resource)
        code = data.get("errorcode", 0)
        try:
            errorcode = int(code)
        except (TypeError, ValueError):
            errorcode = -1
        if resp.status_code >= 400 or errorcode != 0:
            err = NitroError(
                resp.status_code,
                errorcode,
                str(data.get("message") or resp.reason or "error"),
                method=method,
                resource=resource,
                severity=data.get("severity"),
            )
            if err.expired:
                self.expired = True
            raise err
        return data, resp
