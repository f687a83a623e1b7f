"""opspack-vault: look at a Vault (or OpenBao) server from chat, without ever showing a secret."""

from opspack.pack import Pack, Setting

from opspack_vault.errors import translate

pack = Pack(
    name="vault",
    summary="Vault / OpenBao: status, KV metadata, the bot's token, leases and policies (never secret values)",
    modules=[
        "opspack_vault.server",
        "opspack_vault.kv",
        "opspack_vault.token",
        "opspack_vault.lease",
        "opspack_vault.policy",
    ],
    settings=[
        Setting("addr", "the server's URL (default: $VAULT_ADDR)", default=""),
        Setting("token", "the bot's token (default: $VAULT_TOKEN; else AppRole)", secret=True, default=""),
        Setting("role_id", "AppRole role id, used when no token is set (default: $VAULT_ROLE_ID)", default=""),
        Setting("secret_id", "AppRole secret id (default: $VAULT_SECRET_ID)", secret=True, default=""),
        Setting("approle_mount", "where the AppRole auth method is mounted", default="approle"),
        Setting("namespace", "namespace for every request (default: $VAULT_NAMESPACE)", default=""),
        Setting(
            "ca_cert", "PEM file of the CA that signed the server's certificate (default: $VAULT_CACERT)", default=""
        ),
        Setting("verify_tls", "verify the server's TLS certificate (false only for labs)", type="bool", default=True),
        Setting("timeout", "seconds per request to the server", type="float", default=10.0),
        Setting(
            "token_warning",
            "`vault token info` warns when the token expires within this many seconds",
            type="int",
            default=86400,
        ),
    ],
    translate=translate,
)
