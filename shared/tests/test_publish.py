"""opspack.devtools.publish: what is on an index, what is not, and the install lines.

The index here is a real HTTP server on loopback serving a PEP 503 page, the way pypiserver
and PyPI answer; tests/frontends/test_publish.py publishes to a real pypiserver."""

from __future__ import annotations

import http.server
import shutil
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from opspack.devtools import registry_build
from opspack.devtools.publish import (
    PYPI,
    PublishError,
    configured_index,
    distributions,
    file_version,
    index_versions,
    install_command,
    pending,
    upload_url,
)

ROOT = Path(__file__).resolve().parents[2]
CORE = tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())["project"]["version"]

PAGES = {
    "/simple/opspack/": f'<a href="../../packages/opspack-{CORE}-py3-none-any.whl#sha256=00">w</a>'
    f'<a href="/packages/opspack-{CORE}.tar.gz">s</a><a href="/packages/opspack-0.0.1.tar.gz">s</a>',
    "/simple/opspack-vmware/": '<a href="/packages/opspack_vmware-0.1.9-py3-none-any.whl">w</a>',
}


class _Index(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        page = PAGES.get(self.path)
        if page is None and self.path.startswith("/simple/"):
            # pypiserver sends a project it does not hold to its fallback
            self.send_response(303)
            self.send_header("Location", "https://pypi.org" + self.path)
            self.end_headers()
            return
        self.send_response(200 if page is not None else 500)
        self.end_headers()
        self.wfile.write((page or "").encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


def test_file_versions_of_wheels_and_sdists() -> None:
    assert file_version("opspack_vmware-0.2.0-py3-none-any.whl", "opspack-vmware") == "0.2.0"
    assert file_version("opspack_vmware-0.2.0.tar.gz", "opspack-vmware") == "0.2.0"
    assert file_version("opspack-vmware-0.2.0.tar.gz", "opspack_vmware") == "0.2.0"
    assert file_version("opspack_vault-0.2.0.tar.gz", "opspack-vmware") is None
    assert file_version("opspack-0.2.2-py3-none-any.whl", "opspack-vmware") is None


def test_versions_on_the_index(index: str) -> None:
    assert index_versions(index, "opspack") == {CORE, "0.0.1"}
    assert index_versions(index, "opspack_vmware") == {"0.1.9"}
    assert index_versions(index, "opspack-grafana") == set()  # redirected: not held
    with pytest.raises(PublishError, match="only http"):
        index_versions("file:///etc/", "opspack")


def test_pending_leaves_out_what_the_index_has(index: str) -> None:
    names = {d.name for d in pending(ROOT, index, None)}
    assert "opspack" not in names  # the core's version is there
    assert {"opspack-vmware", "opspack-testkit", "opspack-grafana"} <= names
    assert "hubot-opspack" not in names  # no npm registry given
    kinds = {d.name: d.kind for d in distributions(ROOT)}
    assert kinds["hubot-opspack"] == "npm" and kinds["opspack"] == "python"


def test_install_lines_name_the_configured_index(tmp_path: Path) -> None:
    assert install_command("opspack-vmware", "0.2.0") == "pip install opspack-vmware==0.2.0"
    ours = "https://pypi.example.org/simple/"
    assert install_command("opspack-vmware", "0.2.0", ours) == f"pip install --index-url {ours} opspack-vmware==0.2.0"
    assert upload_url(ours) == "https://pypi.example.org/"
    assert upload_url(PYPI) == "https://upload.pypi.org/legacy/"
    assert configured_index(tmp_path) == PYPI
    (tmp_path / "publish.toml").write_text('[publish]\nindex = "https://pypi.example.org/simple"\n')
    assert configured_index(tmp_path) == ours
    (tmp_path / "publish.toml").write_text('[publish]\nindex = "/srv/wheels"\n')
    with pytest.raises(PublishError, match="http"):
        configured_index(tmp_path)


def test_registry_build_writes_the_configured_index(tmp_path: Path) -> None:
    checkout = tmp_path / "repo"
    shutil.copytree(ROOT / "shared", checkout / "shared", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    shutil.copytree(ROOT / "packs" / "server", checkout / "packs" / "server", ignore=shutil.ignore_patterns("tests"))
    (checkout / "publish.toml").write_text('[publish]\nindex = "https://pypi.example.org/simple/"\n')
    outputs = registry_build.build(checkout)
    registry = outputs[checkout / "registry.json"]
    assert '"install": "pip install --index-url https://pypi.example.org/simple/ opspack-server==' in registry
    assert '"install": "pip install opspack' not in registry
