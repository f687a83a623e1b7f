"""opspack-directory: users, groups and access in Active Directory and OpenLDAP, from chat (ldap3).

Importing this package (and its command modules) never imports ldap3: the connection is
made in :mod:`opspack_directory.client`, which commands import when they run. The two
dialects, Active Directory and OpenLDAP, are each mapped in one place,
:mod:`opspack_directory.flavors`.
"""

from opspack.pack import Pack, Setting

from opspack_directory.errors import translate

pack = Pack(
    name="directory",
    summary="Active Directory and LDAP: users, groups and access from chat",
    modules=[
        "opspack_directory.user",
        "opspack_directory.group",
        "opspack_directory.access",
        "opspack_directory.computers",
    ],
    settings=[
        Setting(
            "url",
            "the directory server: ldaps://dc1.corp.example.com, or ldap://host (then StartTLS is used)",
        ),
        Setting("user", "the bot's account: a DN, or name@domain for Active Directory"),
        Setting("password", "that account's password (may be a vault: reference)", secret=True),
        Setting("base_dn", "where users and groups are searched (default: the server's naming context)", default=""),
        Setting("flavor", "the directory's dialect: ad (Active Directory, Samba) or openldap", default="ad"),
        Setting("verify_tls", "verify the server's TLS certificate (false only for labs)", type="bool", default=True),
        Setting("ca_file", "PEM file of the CA that signed the server's certificate", default=""),
        Setting(
            "allow_plain_bind",
            "lab only: bind over plain ldap:// without StartTLS (the password then crosses the network in clear)",
            type="bool",
            default=False,
        ),
        Setting("page_size", "entries per page of a paged search", type="int", default=1000),
        Setting("timeout", "seconds to wait for the server (connect and each answer)", type="float", default=10.0),
        Setting(
            "templates",
            "`user new` templates: JSON (or TOML) naming each template's ou, groups and attributes, e.g. "
            '{"staff": {"ou": "OU=Staff,DC=corp,DC=example,DC=com", "groups": ["VPN-Users"], '
            '"attributes": {"department": "Sales"}}}; a file: reference works',
            default="",
        ),
        Setting(
            "password_delivery",
            "how a new account's random initial password reaches its owner: none, or a command the bot "
            "runs with the password on its standard input ({login}, {mail}, {manager} are replaced)",
            default="none",
        ),
        Setting(
            "managed_groups",
            "comma-separated globs of the groups `group add` and `group remove` may change (e.g. `VPN-*`); "
            "`*` allows every group",
            default="*",
        ),
        Setting(
            "role_groups",
            "group globs per policy role, `role=glob|glob; role2=glob`: a caller the policy grants one of "
            "these roles may change the union of its roles' globs instead of managed_groups",
            default="",
        ),
        Setting(
            "ppolicy_dn",
            "openldap: the default password policy entry (default: cn=default,ou=policies,<base_dn>)",
            default="",
        ),
    ],
    translate=translate,
)
