"""The trial channel's credentials and the environment of an experiment trial.

A trial talks to the control plane over NNI's HTTP command channel
(``NNI_TRIAL_COMMAND_CHANNEL``): it asks for its parameters and reports its
metrics there, with NNI's unchanged trial SDK. Each trial authenticates with
HTTP Basic auth, user = its trial id, password = its token,
HMAC-SHA256(channel key, trial id): nothing per trial is stored, and a token
opens that one trial's channel only. The key is 32 random bytes in a file of
the data directory that only the platform's account reads (0600), made the
first time a token is needed.

The URL a trial gets carries its credentials as ``user:password@``, which
``requests`` (NNI's HTTP channel) sends as an ``Authorization`` header: the
token is never part of a request line, so never of an access log.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

KEY_FILE = "trial-channel.key"
KEY_BYTES = 32
CHANNEL_PATH = "/trial-channel/"  # after the API prefix (handlers/trial_channel.py serves it)
# What NNI's trial SDK is told it runs on: any name but 'local' (which sends a
# trial's stdout into trial.log, where stdout metrics and the task log would miss
# it) and 'unittest' (which skips the command channel).
NNI_PLATFORM = "cubelab"


class TrialChannelBackend(Protocol):
    """What the channel asks of the experiment service (its ExperimentManager)."""

    async def trial_parameters(self, trial_id: str) -> dict | None:
        """``{"parameter_id", "parameter_source": "algorithm", "parameters", "parameter_index": 0}``;
        None: the trial is unknown or finished."""

    async def record_metric(self, trial_id: str, kind: str, sequence: int, value: float | None, raw: object) -> None:
        """One metric of the trial: ``kind`` "intermediate" or "final"; ``value`` the metric
        when it is one finite number, else None (a dict's number is the objective metric's
        key, else "default": the experiment's to pick); ``raw`` the metric as the trial sent it."""

    async def trial_closed(self, trial_id: str) -> bool:
        """True: the trial's channel is closed (GETs are answered 410)."""


class TrialChannel:
    """Tokens for trials, checked in constant time; the key is read (or made) once."""

    def __init__(self, key_file: str | os.PathLike):
        self.key_file = Path(key_file)
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = _load_or_create_key(self.key_file)
        return self._key

    def trial_token(self, trial_id: str) -> str:
        return hmac.new(self.key, trial_id.encode(), hashlib.sha256).hexdigest()

    def check_token(self, trial_id: str, token: str) -> bool:
        return hmac.compare_digest(self.trial_token(trial_id).encode(), token.encode("utf-8", "replace"))

    def channel_url(self, base: str, trial_id: str) -> str:
        """``base`` (where trials reach the control plane's API, e.g.
        ``http://10.0.0.5:10101/services/cubelab/api/v1``) + this trial's channel,
        its credentials in the URL's user-info."""
        parts = urlsplit(base.rstrip("/"))
        if parts.scheme != "http" or not parts.hostname:
            # NNI's trial SDK speaks plain http:// only (trial_command_channel/v3.py)
            raise ValueError(f"trial channel base URL must be http://host[:port][/path], not {base!r}")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = f"{quote(trial_id, safe='')}:{self.trial_token(trial_id)}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(("http", netloc, parts.path + CHANNEL_PATH + quote(trial_id, safe=""), "", ""))

    def trial_env(self, base_url: str, experiment_id: int | str, trial_id: str, seq: int,
                  output_dir: str | None = None, code_dir: str | None = None) -> dict[str, str]:
        """The ``NNI_*`` variables NNI's trial keeper sets for a trial
        (nni_node/common/trial_keeper/process.js). Without ``output_dir`` the
        engine puts the task's own output directory there (engines/launch.py)."""
        env = {
            "NNI_PLATFORM": NNI_PLATFORM,
            "NNI_EXP_ID": str(experiment_id),
            "NNI_TRIAL_JOB_ID": trial_id,
            "NNI_TRIAL_SEQ_ID": str(seq),
            "NNI_TRIAL_COMMAND_CHANNEL": self.channel_url(base_url, trial_id),
        }
        if output_dir:
            env["NNI_OUTPUT_DIR"] = env["NNI_SYS_DIR"] = output_dir
        if code_dir:
            env["NNI_CODE_DIR"] = code_dir
        return env


def _load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; a new one written there (0600, atomically, and
    never replacing one another process wrote first) when there is none."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".trial-channel-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process made the key meanwhile: theirs is kept
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise RuntimeError(f"{path} holds {len(key)} bytes, not a {KEY_BYTES}-byte trial channel key; remove it to make a new one")
    return key
