"""opspack-jenkins: run the Jenkins jobs you are allowed to, from chat (python-jenkins).

Importing this package (and its command modules) never imports python-jenkins: the
client is made in :mod:`opspack_jenkins.client`, which commands import when they run.
"""

from opspack.pack import Pack, Setting

from opspack_jenkins.errors import translate

pack = Pack(
    name="jenkins",
    summary="Jenkins: a job menu, builds with parameters, status, console logs, queue and agents",
    modules=["opspack_jenkins.job", "opspack_jenkins.build", "opspack_jenkins.controller"],
    settings=[
        Setting("url", "the controller's URL (https://jenkins.example.com/)"),
        Setting("user", "the Jenkins user the bot acts as"),
        Setting("token", "that user's API token (Jenkins > user > Security > API Token)", secret=True),
        Setting(
            "verify_tls",
            "verify the controller's TLS certificate (false only for lab controllers)",
            type="bool",
            default=True,
        ),
        Setting(
            "allowed_jobs",
            "comma-separated job globs (full names, e.g. `deploy/*,tools/cleanup`) that `jenkins menu`, "
            "`jenkins build` and `jenkins stop` accept; `*` allows every job",
            default="*",
        ),
        Setting(
            "role_jobs",
            "job globs per policy role, `role=glob|glob; role2=glob`: a caller the policy grants one of "
            "these roles may start the union of its roles' globs instead of allowed_jobs",
            default="",
        ),
        Setting("timeout", "seconds to wait for each HTTP request", type="float", default=15.0),
        Setting(
            "queue_wait",
            "seconds `jenkins build` waits for the queue item to become a build",
            type="float",
            default=30.0,
        ),
        Setting(
            "wait_timeout",
            "seconds `jenkins build --wait` follows a build before answering",
            type="float",
            default=900.0,
        ),
        Setting("poll_interval", "seconds between polls of a queued or running build", type="float", default=2.0),
        Setting("tree_depth", "folder levels `jenkins jobs` reads in one request", type="int", default=5),
    ],
    translate=translate,
)
