"""opspack-gitlab: new repositories made the standard way, merge requests, pipelines and issues.

Commands import python-gitlab only when they run (``_client``); this module and the
command modules import with the core alone.
"""

from opspack.pack import Pack, Setting

from opspack_gitlab._errors import translate

pack = Pack(
    name="gitlab",
    summary="GitLab: repositories made to a standard, merge requests, pipelines and issues",
    modules=["opspack_gitlab.repo", "opspack_gitlab.mr", "opspack_gitlab.pipeline", "opspack_gitlab.issue"],
    settings=[
        Setting("url", "GitLab address, e.g. https://gitlab.example.com"),
        Setting("token", "personal, group or project access token with the api scope", secret=True),
        Setting("verify_tls", "verify GitLab's TLS certificate (false only for a lab)", type="bool", default=True),
        Setting("ca_file", "PEM file of extra CAs to trust (an internal CA); empty: the system's", default=""),
        Setting("timeout", "seconds to wait for each GitLab request", type="float", default=20.0),
        Setting(
            "standard",
            "TOML file describing how repositories are set up (see the README); empty: the built-in standard",
            default="",
        ),
    ],
    translate=translate,
    docs_url="https://docs.gitlab.com/ee/api/rest/",
)
