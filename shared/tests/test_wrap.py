"""`opspack wrap`: realistic argparse scripts become commands that run through the runtime."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest
from opspack.devtools import scaffold, wrap
from opspack.errors import BackendError, CommandTimeout
from opspack.frontends import cli
from opspack.registry import Registry
from opspack.scripts import parse_output, run_script, script_results
from opspack_testkit import check_rendering, run_command

SCRIPTS = Path(__file__).parent / "scripts"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout with one pack holding two wrapped scripts."""
    root = tmp_path_factory.mktemp("repo")
    (root / "shared").mkdir()
    (root / "packs").mkdir()
    scaffold.new_pack(root, "wrapdemo")
    wrap.wrap(root, SCRIPTS / "disk_report.py", "wrapdemo", read_only=True)
    assert cli.main(["wrap", str(SCRIPTS / "cert_days.py"), "--pack", "wrapdemo", "--group", "certs",
                     "--verb", "check", "--timeout", "20", "--root", str(root)]) == 0  # fmt: skip
    return root


@pytest.fixture(scope="module")
def registry(repo: Path) -> Registry:
    return Registry.from_file(repo / "registry.json")


def test_parser_is_read_without_running_the_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "marker"
    monkeypatch.setenv("WRAP_MARKER", str(marker))
    parser = wrap.read_parser(SCRIPTS / "disk_report.py")
    assert not marker.exists()
    by_dest = {a["dest"]: a for a in parser["actions"]}
    assert by_dest["min_kb"]["type"] == "int" and by_dest["min_kb"]["default"] == 0
    assert by_dest["min_kb"]["help"] == "ignore files smaller than this (default: 0)"
    assert by_dest["format"]["choices"] == ["json", "csv", "text"]
    assert by_dest["exclude"]["kind"] == "_AppendAction"
    assert by_dest["follow"]["kind"] == "_StoreFalseAction"


def test_generated_signature(repo: Path, registry: Registry) -> None:
    entry = registry.get("wrapdemo.disk_report.run")
    assert entry is not None
    assert entry["chat"]["usage"] == (
        "disk-report run <path> [--min-kb MIN_KB] [--top TOP] [--exclude EXCLUDE] [--verbose VERBOSE] [--follow]"
    )
    props = entry["args_schema"]["properties"]
    assert props["min_kb"] == {"type": "integer", "description": "ignore files smaller than this (default: 0)",
                               "default": 0}  # fmt: skip
    assert "format" not in props  # the script can print JSON: it always does, its format option is hidden
    assert props["exclude"]["type"] == "array"
    assert entry["effects"]["read_only"] is True
    assert entry["summary"] == "Report the biggest files under a folder"
    certs = registry.get("wrapdemo.certs.check")
    assert certs is not None
    assert certs["effects"]["read_only"] is False  # mutating unless --read-only
    assert certs["chat"]["positional"] == ["hosts"]
    cprops = certs["args_schema"]["properties"]
    assert "debug_internal" not in cprops  # help=SUPPRESS stays hidden
    assert cprops["env"]["enum"] == ["prod", "staging", "dev"]  # from the parent parser
    assert cprops["warn_days"]["default"] == 30  # from the option table
    assert cprops["critical_days"]["type"] == "number"
    assert certs["timeout_s"] == 25.0
    source = (repo / "packs/wrapdemo/src/opspack_wrapdemo/certs.py").read_text()
    ast.parse(source)
    assert "TIMEOUT = 20.0" in source and "run_script(SCRIPT, argv, timeout=TIMEOUT)" in source
    assert (repo / "packs/wrapdemo/src/opspack_wrapdemo/scripts/cert_days.py").is_file()
    init = (repo / "packs/wrapdemo/src/opspack_wrapdemo/__init__.py").read_text()
    assert '"opspack_wrapdemo.disk_report", "opspack_wrapdemo.certs"' in init


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big.bin").write_bytes(b"x" * 5000)
    (tmp_path / "small.txt").write_bytes(b"x" * 2048)
    (tmp_path / "skip.log").write_bytes(b"x" * 9000)
    return tmp_path


def test_json_list_becomes_a_table(registry: Registry, tree: Path) -> None:
    reply = run_command(f"disk-report run {tree} --exclude .log", registry=registry, environ={})
    assert reply.ok, reply.error
    (table,) = reply.to_dict()["results"]
    assert table["columns"] == ["file", "kb"]
    assert table["rows"] == [["a/big.bin", 4], ["small.txt", 2]]
    check_rendering(reply)
    # chat gets the table, never the script's own text format
    assert "| file | kb |" in cli_markdown(registry, f"disk-report run {tree} --exclude .log")


def cli_markdown(registry: Registry, text: str) -> str:
    from opspack.renderers import render

    out = render(run_command(text, registry=registry, environ={}), "markdown")
    assert isinstance(out, str)
    return out


def test_csv_becomes_a_table_and_text_stays_text(tree: Path) -> None:
    (csv_table,) = run_script(SCRIPTS / "disk_report.py", [str(tree), "--format", "csv", "--top", "1"])
    assert csv_table.to_dict()["rows"] == [["skip.log", 8]]
    (text,) = run_script(SCRIPTS / "disk_report.py", [str(tree), "--format", "text", "--min-kb", "3"])
    assert text.kind == "text" and "a/big.bin" in text.to_dict()["text"]


def test_non_zero_exit_is_a_backend_error_with_stderr_once(
    repo: Path, registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = run_command(f"disk-report run {tmp_path} --verbose 2", registry=registry, environ={})
    assert not reply.ok and reply.error is not None
    assert reply.error.kind == "backend"
    assert reply.error.message == "disk_report.py failed (exit code 1): 0 files"
    assert reply.results == []
    check_rendering(reply)
    # through the command line: exit code 1, the script's stderr once
    code = cli.main(["--registry", str(repo / "registry.json"), "run", "--", "disk-report", "run", str(tmp_path),
                     "--verbose", "1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert out.count("0 files") == 1, out


def test_flags_lists_and_objects(registry: Registry) -> None:
    reply = run_command(
        "certs check web1 web2 web3 --env staging --no-color --summary --critical-days 1.5 --quiet 2",
        registry=registry,
        environ={},
    )
    kv = reply.to_dict()["results"][0]
    assert kv["kind"] == "kv"
    assert kv["items"] == {"hosts": 3, "worst_days": 18, "env": "staging", "color": False}
    listed = run_command("certs check a b c --critical-days 8", registry=registry, environ={})
    assert [r[0] for r in listed.to_dict()["results"][0]["rows"]] == ["a", "b", "c"]
    failed = run_command("certs check a b c d --critical-days 8", registry=registry, environ={})
    assert failed.error is not None and failed.error.kind == "backend"
    assert failed.error.message == "cert_days.py failed (exit code 2): critical: a certificate expires in 7 days"


def test_scripts_that_cannot_be_wrapped(tmp_path: Path) -> None:
    with pytest.raises(wrap.WrapError, match="subcommands"):
        wrap.params_of(wrap.read_parser(SCRIPTS / "with_subcommands.py"))
    with pytest.raises(wrap.WrapError, match="no argparse"):
        wrap.read_parser(SCRIPTS / "no_argparse.py")
    with pytest.raises(wrap.WrapError, match="is not a file"):
        wrap.read_parser(tmp_path / "missing.py")


def test_existing_module_needs_force(repo: Path) -> None:
    with pytest.raises(wrap.WrapError, match="--force"):
        wrap.wrap(repo, SCRIPTS / "disk_report.py", "wrapdemo")
    with pytest.raises(wrap.WrapError, match="new-pack"):
        wrap.wrap(repo, SCRIPTS / "disk_report.py", "nosuchpack")


def test_timeout_kills_the_script() -> None:
    with pytest.raises(CommandTimeout, match=r"did not finish within 0\.5 s"):
        run_script(SCRIPTS / "sleepy.py", ["--seconds", "30"], timeout=0.5)


@pytest.mark.parametrize(
    ("stdout", "kind"),
    [
        ('[{"a": 1, "b": {"x": 2}}, {"a": 3, "c": null}]', "table"),
        ('{"items": [{"n": 1}, {"n": 2}]}', "table"),
        ('{"ok": true, "tags": ["a", "b"], "nested": {"k": 1}}', "kv"),
        ("[1, 2, 3]", "table"),
        ('{"n": 1}\n{"n": 2}\n', "table"),
        ("host;port\nweb1;22\nweb2;443\n", "table"),
        ("Hello, world\nAll fine, thanks\n", "text"),
        ('"just a string"', "text"),
        ("plain output", "text"),
    ],
)
def test_output_mapping(stdout: str, kind: str) -> None:
    results = parse_output(stdout)
    assert [r.kind for r in results] == [kind]


def test_output_mapping_details() -> None:
    (table,) = parse_output('[{"a": 1, "b": {"x": 2}}, {"a": 3, "c": null}]')
    assert table.to_dict()["columns"] == ["a", "b", "c"]
    assert table.to_dict()["rows"] == [[1, '{"x": 2}', None], [3, None, None]]
    (csv_table,) = parse_output("host,port\nweb1,22\n")
    assert csv_table.to_dict()["rows"] == [["web1", 22]]
    assert parse_output("   \n") == []
    with pytest.raises(BackendError) as failed:
        script_results("", "Traceback ...\n  line 3\nValueError: bad host\n", 3, name="x.py")
    assert failed.value.message == "x.py failed (exit code 3):\nTraceback ...\n  line 3\nValueError: bad host"
    with pytest.raises(BackendError, match=r"^x.py was killed by signal 9 and wrote nothing on stderr$"):
        script_results("[]", "", -9, name="x.py")
    (ok,) = script_results("", "", 0, name="x.py")
    assert ok.to_dict()["level"] == "ok"
    assert json.dumps(ok.to_dict())


@pytest.mark.parametrize(
    ("stdout", "kinds", "level"),
    [
        ('{"status": "warning", "message": "disk 91% full"}', ["status"], "warning"),
        ('{"level": "CRITICAL", "summary": "down", "host": "web1"}', ["kv", "status"], "critical"),
        ('{"status": "active", "message": "x"}', ["kv"], None),
    ],
)
def test_status_shape(stdout: str, kinds: list[str], level: str | None) -> None:
    results = parse_output(stdout)
    assert [r.kind for r in results] == kinds
    if level:
        assert results[-1].to_dict()["level"] == level


def test_generated_code_lints_clean(repo: Path) -> None:
    """ruff (when installed) accepts the generated module as it is."""
    import shutil
    import subprocess

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed here (it is in the lint session)")
    config = Path(__file__).parents[2] / "ruff.toml"
    module = repo / "packs/wrapdemo/src/opspack_wrapdemo"
    tests = repo / "packs/wrapdemo/tests"
    files = [module / n for n in ("disk_report.py", "certs.py", "example.py", "__init__.py")]
    for path in [*files, tests / "test_disk_report.py", tests / "test_certs.py"]:
        for args in (["check"], ["format", "--check"]):
            proc = subprocess.run([ruff, *args, "--config", str(config), str(path)],
                                  capture_output=True, text=True, check=False, env={**os.environ})  # fmt: skip
            assert proc.returncode == 0, proc.stdout + proc.stderr


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("import argparse\nimport json\n\nparser = argparse.ArgumentParser(description='Do it.')\n" + body)
    return path


def test_an_argument_without_help_fails_naming_it_and_the_fix(tmp_path: Path) -> None:
    script = _script(tmp_path, "nohelp.py", "parser.add_argument('--top', type=int)\nparser.parse_args()\n")
    with pytest.raises(wrap.WrapError) as caught:
        wrap.params_of(wrap.read_parser(script), script.name)
    assert str(caught.value) == (
        "nohelp.py: --top has no help text, which wrap needs as the argument's description in chat help and the "
        'registry. Fix: add help="..." to add_argument("--top", ...) in nohelp.py, then run the command again.'
    )
    two = _script(tmp_path, "two.py", "parser.add_argument('where')\nparser.add_argument('-n', '--count')\n")
    with pytest.raises(wrap.WrapError, match=r"two.py: where, --count have no help text.*and the others"):
        wrap.params_of(wrap.read_parser(two), two.name)


def test_a_json_flag_is_always_passed_and_hidden(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "svc_state.py",
        "parser.add_argument('name', help='the service')\n"
        "parser.add_argument('--json', action='store_true', help='JSON output')\n"
        "args = parser.parse_args()\n"
        "if args.json:\n"
        "    print(json.dumps({'status': 'warning', 'message': args.name + ' is degraded', 'since': '2h'}))\n"
        "else:\n"
        "    print(args.name, 'degraded')\n",
    )
    root = tmp_path / "repo"
    (root / "shared").mkdir(parents=True)
    (root / "packs").mkdir()
    scaffold.new_pack(root, "svc")
    written = wrap.wrap(root, script, "svc", words="svc state", read_only=True)
    rel = {str(p.relative_to(root)) for p in written}
    assert {"packs/svc/src/opspack_svc/svc_state.py", "packs/svc/tests/test_svc_state.py"} <= rel
    registry = Registry.from_file(root / "registry.json")
    entry = registry.get("svc.svc.state")
    assert entry is not None
    assert entry["chat"]["words"] == ["svc", "state"] and entry["chat"]["usage"] == "svc state <name>"
    reply = run_command("svc state web", registry=registry, environ={})
    assert [r["kind"] for r in reply.to_dict()["results"]] == ["kv", "status"]
    assert reply.to_dict()["results"][1] == {"kind": "status", "level": "warning", "message": "web is degraded",
                                             "title": None}  # fmt: skip
    with pytest.raises(wrap.WrapError, match="two or more chat words"):
        wrap.wrap(root, script, "svc", words="state", force=True)
