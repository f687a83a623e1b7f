"""`grafana graph`: real PNG bytes from the fake's render endpoint, through the runtime, to every platform."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
from pathlib import Path

from opspack.renderers import render
from opspack_testkit import check_rendering
from opspack_testkit.fakes.grafana import PLACEHOLDER_SIZE

PNG = b"\x89PNG\r\n\x1a\n"


def size_of(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG)
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def render_request(fake):
    return next(r for r in fake.server.requests if r.path.startswith("/render/"))


def test_command_modules_do_not_import_requests():
    code = (
        "import sys, opspack_grafana, opspack_grafana.graph, opspack_grafana.dashboards, opspack_grafana.alerts, "
        "opspack_grafana.annotations, opspack_grafana.datasources; print('requests' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_graph_by_search_words_is_one_search_one_read_one_render(fake, run):
    reply = run("grafana graph checkout 'Request rate' --width 1000 --height 500")
    assert reply.ok, reply.error
    image = reply.results[0]
    assert image.kind == "image" and image.mime == "image/png"
    assert size_of(image.data) == (1000, 500)
    assert (image.width, image.height) == (1000, 500)
    assert fake.paths() == ["/api/search", "/api/dashboards/uid/chk0ut01", "/render/d-solo/chk0ut01/checkout-service"]
    q = render_request(fake).query
    assert q["panelId"] == ["1"] and q["from"] == ["now-6h"] and q["to"] == ["now"]
    assert q["width"] == ["1000"] and q["height"] == ["500"]
    link = reply.results[1]
    assert link.kind == "link" and link.url.startswith(fake.url + "/d/chk0ut01/checkout-service?viewPanel=1")
    check_rendering(reply)


def test_graph_by_uid_panel_id_time_range_and_variables(fake, run):
    reply = run("grafana graph chk0ut01 2 --from now-24h --to now-1h --var env=prod --var instance=web1 --tz UTC")
    assert reply.ok, reply.error
    assert size_of(reply.results[0].data) == (1000, 500)
    q = render_request(fake).query
    assert q["panelId"] == ["2"] and q["from"] == ["now-24h"] and q["to"] == ["now-1h"]
    assert q["var-env"] == ["prod"] and q["var-instance"] == ["web1"] and q["tz"] == ["UTC"]
    assert len(fake.server.requests) == 3
    assert "env=prod" in reply.results[0].alt


def test_graph_panel_in_a_collapsed_row_by_partial_title(fake, run):
    reply = run("grafana graph chk0ut01 'error ratio' --width 300 --height 200")
    assert reply.ok, reply.error
    assert render_request(fake).query["panelId"] == ["11"]
    assert size_of(reply.results[0].data) == (300, 200)


def test_graph_is_scaled_to_the_platform_limit_by_asking_grafana_for_less(fake, run):
    reply = run("grafana graph checkout 'Request rate' --width 2000 --height 1000", fmt="teams")
    assert reply.ok, reply.error
    q = render_request(fake).query
    assert q["width"] == ["1024"] and q["height"] == ["512"]
    assert size_of(reply.results[0].data) == (1024, 512)
    assert "scaled to 1024x512 for teams" in reply.results[0].alt


def test_image_reaches_every_platform(fake, run, tmp_path: Path):
    reply = run("grafana graph checkout 'Latency p99' --width 640 --height 320")
    assert reply.ok, reply.error
    data = reply.results[0].data
    out = check_rendering(reply)
    # Slack: a files_upload_v2 entry with the PNG bytes
    uploads = [m["upload"] for m in out["slack"] if "upload" in m]
    assert len(uploads) == 1 and uploads[0]["mime"] == "image/png"
    assert base64.b64decode(uploads[0]["content_base64"]) == data
    assert uploads[0]["filename"].endswith(".png")
    # Mattermost: an upload too
    mm = [m["upload"] for m in out["mattermost"] if "upload" in m]
    assert base64.b64decode(mm[0]["content_base64"]) == data
    # Teams: inline data URI when the card fits, else an attached file; the bytes are ours either way
    teams = str(out["teams"])
    assert "data:image/png;base64," in teams or "image/png" in teams
    # JSON: base64 with the MIME type
    item = out["json"]["results"][0]
    assert item["mime"] == "image/png" and base64.b64decode(item["data_base64"]) == data
    # Markdown: a file reference; terminal: the saved file's path
    assert "](" in out["markdown"] and ".png)" in out["markdown"]
    text = render(reply, "text", image_dir=tmp_path)
    saved = list(tmp_path.glob("*.png"))
    assert len(saved) == 1 and saved[0].read_bytes() == data and str(saved[0]) in text


def test_small_image_is_inline_in_teams(fake, run):
    reply = run("grafana graph checkout 'Request rate' --width 120 --height 60", fmt="teams")
    assert reply.ok, reply.error
    cards = render(reply, "teams")
    assert "data:image/png;base64," in str(cards)


def test_renderer_missing_placeholder_picture_is_a_clear_error(fake, run):
    fake.renderer = "missing"
    reply = run("grafana graph checkout 'Request rate'")
    assert not reply.ok
    assert reply.error.kind == "config"
    assert "no image renderer" in reply.error.message
    assert "grafana-image-renderer" in reply.error.hint
    assert "/api/frontend/settings" in fake.paths()
    assert PLACEHOLDER_SIZE != (1000, 500)
    check_rendering(reply)


def test_renderer_missing_500_page_is_a_clear_error(fake, run):
    fake.renderer = "removed"
    reply = run("grafana graph checkout 'Request rate'")
    assert not reply.ok and reply.error.kind == "config"
    assert "HTTP 500" in reply.error.message and "grafana-image-renderer" in reply.error.hint


def test_render_failure_with_a_renderer_is_a_backend_error(fake, run):
    fake.renderer = "broken"
    reply = run("grafana graph checkout 'Request rate'")
    assert not reply.ok and reply.error.kind == "backend"
    assert "Rendering failed" in reply.error.message


def test_unknown_variable_is_a_usage_error_naming_the_known_ones(fake, run):
    reply = run("grafana graph checkout 'Request rate' --var region=eu")
    assert not reply.ok and reply.error.kind == "usage"
    assert "env" in reply.error.hint and "instance" in reply.error.hint
    assert not any(p.startswith("/render") for p in fake.paths())


def test_dashboard_not_found_suggests_close_titles(fake, run):
    reply = run("grafana graph 'checkout servce' 1")
    assert not reply.ok and reply.error.kind == "not_found"
    assert "Checkout Service" in (reply.error.hint or "")


def test_unknown_uid_answers_not_found(fake, run):
    reply = run("grafana graph nosuchuid 1")
    assert not reply.ok and reply.error.kind == "not_found"
    assert "/api/dashboards/uid/nosuchuid" in fake.paths()


def test_ambiguous_dashboard_and_panel(fake, run):
    reply = run("grafana graph api 1")
    assert not reply.ok and reply.error.kind == "usage"
    assert "API errors" in reply.error.message and "API latency" in reply.error.message
    reply = run("grafana graph checkout latency")
    assert not reply.ok and "Latency p99" in reply.error.message and "Latency p50" in reply.error.message


def test_panel_not_found_lists_close_panels(fake, run):
    reply = run("grafana graph checkout 'Request rat3'")
    assert not reply.ok and reply.error.kind == "not_found"
    assert "Request rate" in reply.error.hint


def test_without_a_panel_offers_the_panels(fake, run):
    reply = run("grafana graph checkout")
    assert reply.ok, reply.error
    table, menu = reply.results
    assert table.kind == "table" and [r[0] for r in table.rows] == [1, 2, 3, 11]
    assert menu.kind == "menu" and menu.options[0].text == "grafana graph chk0ut01 1"
    check_rendering(reply)
    # a dashboard with a single panel is drawn at once
    reply = run("grafana graph 'API latency'")
    assert reply.ok and reply.results[0].kind == "image"


def test_bad_size_is_a_usage_error(fake, run):
    reply = run("grafana graph checkout 1 --width 0")
    assert not reply.ok and reply.error.kind == "usage"


def test_invalid_token_is_a_config_error_and_never_shows_the_token(fake, run):
    secret = "glsa_wrongToken_ffffffffffffffffffff"
    reply = run("grafana graph checkout 1", environ=fake.environ(OPSPACK_GRAFANA_TOKEN=secret))
    assert not reply.ok and reply.error.kind == "config"
    assert "Invalid API key" in reply.error.message and "OPSPACK_GRAFANA_TOKEN" in reply.error.hint
    for fmt, rendered in check_rendering(reply).items():
        assert secret not in str(rendered), fmt


def test_missing_settings_are_a_config_error(run):
    reply = run("grafana graph checkout 1", environ={})
    assert not reply.ok and reply.error.kind == "config"
    assert "OPSPACK_GRAFANA_URL" in reply.error.hint


def test_unreachable_grafana_is_a_backend_error(run):
    from opspack_testkit import free_port

    url = f"http://127.0.0.1:{free_port()}"
    reply = run("grafana dashboards", environ={"OPSPACK_GRAFANA_URL": url, "OPSPACK_GRAFANA_TOKEN": "x"})
    assert not reply.ok and reply.error.kind == "backend"
    assert "OPSPACK_GRAFANA_URL" in reply.error.hint
