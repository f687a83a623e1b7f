"""A private OpenLDAP server (Debian's ``slapd``) for tests, with memberOf and ppolicy.

::

    with Slapd() as ldap:                        # slapd on a free loopback port, its own config
        ldap.add(ldif)                           # ldapadd as the root DN
        url = ldap.url                           # ldap://127.0.0.1:PORT (StartTLS: ldap.ca_file)

The server reads a ``slapd.conf`` written into its temporary folder (never the system's
/etc/ldap): an MDB database for :attr:`Slapd.suffix` whose root DN is ``cn=admin,<suffix>``,
the ``memberof`` overlay (``memberOf`` kept on the members of ``groupOfNames``), the
``ppolicy`` overlay with a default policy that locks an account after three failed binds,
and a TLS certificate for 127.0.0.1 issued by a private CA (:attr:`Slapd.ca_file`) for
StartTLS. The tree starts with ``ou=people``, ``ou=groups`` and ``ou=policies``.

Needs ``apt-get install slapd ldap-utils`` (OpenLDAP 2.5); the system's own slapd instance,
if the package configured one, is neither used nor touched.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

from opspack_testkit.servers.process import ManagedProcess, ServerError

__all__ = ["APT_PACKAGES", "Slapd", "SlapdError", "SlapdUnavailable", "slapd_binaries"]

APT_PACKAGES = ("slapd", "ldap-utils")

#: failed binds before ppolicy locks an account (the default policy's pwdMaxFailure)
LOCKOUT_THRESHOLD = 3


class SlapdUnavailable(RuntimeError):
    """``slapd`` or the ldap-utils clients are not installed."""


class SlapdError(ServerError):
    """slapd did not start, or ldapadd/ldapmodify failed."""


def slapd_binaries() -> tuple[Path, Path, Path]:
    """``slapd``, ``ldapadd`` and ``ldapmodify``; :class:`SlapdUnavailable` when missing."""
    slapd = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").is_file() else None)
    add = shutil.which("ldapadd")
    modify = shutil.which("ldapmodify")
    if not slapd or not add or not modify or not Path("/usr/lib/ldap/memberof.so").exists():
        raise SlapdUnavailable("OpenLDAP is not installed; install: apt-get install -y slapd ldap-utils")
    return Path(slapd), Path(add), Path(modify)


class Slapd(ManagedProcess):
    """A running OpenLDAP server on a free loopback port; use as a context manager.

    Args:
        suffix: the database's suffix (``dc=example,dc=org``).
        root_password: the root DN's password (default: random).
        port: TCP port on 127.0.0.1 (0: a free one).
    """

    name = "slapd"
    error = SlapdError

    def __init__(self, *, suffix: str = "dc=example,dc=org", root_password: str | None = None, port: int = 0) -> None:
        super().__init__(port=port, start_timeout=30.0, stop_timeout=10.0)
        self.suffix = suffix
        self.root_password = root_password or "root-" + secrets.token_hex(8)
        self._bins: tuple[Path, Path, Path] | None = None

    @property
    def root_dn(self) -> str:
        """The database's root DN (``cn=admin,<suffix>``), bound with :attr:`root_password`."""
        return f"cn=admin,{self.suffix}"

    @property
    def url(self) -> str:
        """``ldap://127.0.0.1:<port>`` (plain; StartTLS upgrades it)."""
        return f"ldap://{self.host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The PEM file of the CA that issued the server's certificate."""
        return self.workdir / "tls" / "ca.pem"

    @property
    def policy_dn(self) -> str:
        """The default password policy's entry."""
        return f"cn=default,ou=policies,{self.suffix}"

    # -- ManagedProcess ------------------------------------------------------------------
    def prepare(self) -> None:
        """Write the certificate and ``slapd.conf``."""
        from opspack_testkit.tls import TestCA

        self._bins = slapd_binaries()
        tls = self.workdir / "tls"
        tls.mkdir()
        ca = TestCA(tls)
        cert = ca.issue("slapd", [self.host, "localhost"], days=365)
        (self.workdir / "db").mkdir()
        schema = Path("/etc/ldap/schema")
        conf = "\n".join(
            [
                *[f"include {schema / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")],
                "modulepath /usr/lib/ldap",
                "moduleload back_mdb",
                "moduleload memberof",
                "moduleload ppolicy",
                f"pidfile {self.workdir / 'slapd.pid'}",
                f"TLSCACertificateFile {ca.ca_path}",
                f"TLSCertificateFile {cert.cert}",
                f"TLSCertificateKeyFile {cert.key}",
                "database mdb",
                f'suffix "{self.suffix}"',
                f'rootdn "{self.root_dn}"',
                f"rootpw {self.root_password}",
                f"directory {self.workdir / 'db'}",
                "maxsize 268435456",
                "index objectClass eq",
                "index uid,cn,mail eq,sub",
                "index member eq",
                "overlay memberof",
                "memberof-group-oc groupOfNames",
                "memberof-member-ad member",
                "memberof-memberof-ad memberOf",
                "memberof-refint true",
                "overlay ppolicy",
                f'ppolicy_default "{self.policy_dn}"',
                "ppolicy_hash_cleartext",
                "access to attrs=userPassword by self write by anonymous auth by * none",
                "access to * by * read",
                "",
            ]
        )
        (self.workdir / "slapd.conf").write_text(conf)

    def command(self) -> list[str]:
        """``slapd`` in the foreground (``-d 0``) on :attr:`port`, from the written config."""
        assert self._bins is not None
        return [
            str(self._bins[0]),
            "-d",
            "0",
            "-h",
            f"ldap://{self.host}:{self.port}/",
            "-f",
            str(self.workdir / "slapd.conf"),
        ]

    def after_start(self) -> None:
        """The top of the tree and the default password policy."""
        top = self.suffix.split(",")[0].split("=", 1)[1]
        self.add(
            f"dn: {self.suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: {top}\no: {top}\n\n"
            + "".join(
                f"dn: ou={ou},{self.suffix}\nobjectClass: organizationalUnit\nou: {ou}\n\n"
                for ou in ("people", "groups", "policies")
            )
            + f"dn: {self.policy_dn}\nobjectClass: pwdPolicy\nobjectClass: device\ncn: default\n"
            "pwdAttribute: userPassword\npwdLockout: TRUE\n"
            f"pwdMaxFailure: {LOCKOUT_THRESHOLD}\npwdLockoutDuration: 1800\npwdMaxAge: 7776000\n"
            "pwdFailureCountInterval: 0\npwdMustChange: TRUE\npwdAllowUserChange: TRUE\n"
        )

    # -- clients -----------------------------------------------------------------------
    def _client(self, binary: Path, ldif: str, *extra: str) -> str:
        cmd = [str(binary), "-x", "-H", self.url, "-D", self.root_dn, "-w", self.root_password, *extra]
        proc = subprocess.run(cmd, input=ldif, capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise self.error(f"{binary.name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        return proc.stdout

    def add(self, ldif: str) -> None:
        """Add the entries of ``ldif`` as the root DN (``ldapadd``)."""
        assert self._bins is not None, "not started"
        self._client(self._bins[1], ldif)

    def modify(self, ldif: str) -> None:
        """Apply ``ldif`` change records as the root DN (``ldapmodify``)."""
        assert self._bins is not None, "not started"
        self._client(self._bins[2], ldif)
