"""NNI's HTTP command channel, one per experiment trial: the trial's unchanged
NNI SDK asks for its parameters and reports its metrics here.

The protocol is NNI's (nni/runtime/command_channel/http.py and the manager's
``HttpChannelServer``): a trial PUTs JSON commands and long-polls with GET,
answered 200 with a command, 408 when none came in time (the SDK asks again)
or 410 when the channel is closed. The SDK PUTs ``{"type": "request_parameter"}``
and then GETs ``{"type": "parameter", "parameter": "<JSON record>"}``; a metric
is ``{"type": "metric", "metric": "<JSON>"}`` whose ``value`` is JSON again.

This is not a user's API: the caller is a trial, authenticated here and only
here by HTTP Basic auth (user = trial id, password = its token,
:class:`~cubelab_hub.controlplane.services.trial_channel.TrialChannel`).
Anything else - no credentials, another trial's, a trial id that does not
match the path - gets the same 404, so a trial cannot tell whether another
trial exists. There is no cookie, so no XSRF to check; the Authorization
header is never logged (the access log writes the method and path only).
"""

from __future__ import annotations

import asyncio
import json
import time
from http import HTTPStatus

from tornado import web

from ..services.trial_channel import TrialChannel, TrialChannelBackend
from ..services.trial_protocol import MAX_COMMAND_BYTES, ChannelError, basic_credentials, not_found, parse_metric
from .base import op, route

TAGS = ["trial-channel"]
TRIAL_PARAM = {"name": "trial_id", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "the trial's id, also the Basic auth user name"}
class TrialChannelHandler(web.RequestHandler):
    """``PUT`` a command, ``GET`` the next one (long poll)."""

    openapi = {
        "put": op("A trial's command to the control plane (NNI's HTTP command channel): request_parameter or metric. "
                  "HTTP Basic auth: the trial id and its token; anything else is 404",
                  tags=TAGS, body="TrialCommand", status=204, params=[TRIAL_PARAM], errors=(400, 404, 410)),
        "get": op("The next command for a trial (long poll): its parameter record; 408 when none came in time, "
                  "410 when the channel is closed. HTTP Basic auth as for PUT",
                  tags=TAGS, returns="TrialParameterCommand", params=[TRIAL_PARAM], errors=(404, 408, 410)),
    }
    for operation in openapi.values():
        operation["security"] = [{"trial": []}]

    # how long a GET waits for parameters before answering 408 (NNI's own server waits 1 s)
    poll_seconds = 1.0
    poll_interval = 0.1

    def initialize(self, openapi_path: str = ""):
        self.openapi_path = openapi_path

    @property
    def app(self):
        return self.settings["cubelab"]

    @property
    def channel(self) -> TrialChannel:
        return self.app.trial_channel

    @property
    def backend(self) -> TrialChannelBackend | None:
        return getattr(self.app, "experiments", None)

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def check_xsrf_cookie(self):
        return  # Basic auth from a trial process: no browser, no cookie to ride on

    def prepare(self):
        # the one place a caller is authenticated: the user is the path's trial, the password its token
        trial_id = self.path_kwargs.get("trial_id", "")
        credentials = basic_credentials(self.request.headers.get("Authorization"))
        if (credentials is None or credentials[0] != trial_id or "\x00" in trial_id
                or not self.channel.check_token(trial_id, credentials[1]) or self.backend is None):
            raise not_found()

    async def get(self, trial_id: str):
        deadline = time.monotonic() + self.poll_seconds
        while True:
            if await self.backend.trial_closed(trial_id):
                raise ChannelError(410, "this trial's channel is closed")
            record = await self.backend.trial_parameters(trial_id)
            if record is not None:
                # the only command the control plane sends a trial: answered to every GET, so a
                # restart between the SDK's request and its GET loses nothing
                self._send({"type": "parameter", "parameter": json.dumps(record)})
                return
            if time.monotonic() >= deadline:
                raise ChannelError(408, "no command yet; ask again")
            await asyncio.sleep(self.poll_interval)

    async def put(self, trial_id: str):
        if await self.backend.trial_closed(trial_id):
            raise ChannelError(410, "this trial's channel is closed")
        command = self._command()
        kind = command.get("type")
        if kind not in ("request_parameter", "metric"):
            raise ChannelError(400, f"{kind!r} is not a trial command", "type", "request_parameter, metric")
        if kind == "metric":
            record = await self.backend.trial_parameters(trial_id)
            if record is None:
                raise ChannelError(410, "this trial has no parameters to report for")
            metric_kind, sequence, value, raw = parse_metric(command, trial_id, record.get("parameter_id"))
            await self.backend.record_metric(trial_id, metric_kind, sequence, value, raw)
        self.set_status(204)
        self.finish()

    def _command(self) -> dict:
        body = self.request.body
        if len(body) > MAX_COMMAND_BYTES:
            raise ChannelError(400, f"a command is at most {MAX_COMMAND_BYTES} bytes", None, "a small JSON object")
        try:
            command = json.loads(body)
        except ValueError as exc:
            raise ChannelError(400, f"request body is not valid JSON: {exc}", None, '{"type": "request_parameter"}') from None
        if not isinstance(command, dict):
            raise ChannelError(400, "request body must be a JSON object", None, '{"type": "request_parameter"}')
        return command

    def _send(self, data: dict) -> None:
        self.finish(json.dumps(data))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ChannelError):
            if self._finished:
                return
            self.clear()
            self.set_default_headers()
            self.set_status(e.status)
            error = "not_found" if e.status == 404 else "invalid" if e.status == 400 else HTTPStatus(e.status).phrase.lower().replace(" ", "_")
            body = {"error": error, "message": e.message, "field": e.field}
            if e.accepted:
                body["accepted"] = e.accepted
            self.finish(json.dumps(body))
        else:
            super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs) -> None:
        message = "internal error; see the control plane's log" if status_code >= 500 else HTTPStatus(status_code).phrase
        self.finish(json.dumps({"error": HTTPStatus(status_code).phrase.lower().replace(" ", "_"), "message": message, "field": None}))


SCHEMAS = {
    "TrialCommand": {
        "type": "object",
        "required": ["type"],
        "description": "NNI's trial command: request_parameter, or metric with the metric as a JSON string "
                       '({"parameter_id", "trial_job_id", "type": "PERIODICAL"|"FINAL", "sequence", "value": JSON string})',
        "properties": {
            "type": {"type": "string", "enum": ["request_parameter", "metric"]},
            "metric": {"type": "string"},
        },
    },
    "TrialParameterCommand": {
        "type": "object",
        "required": ["type", "parameter"],
        "properties": {
            "type": {"type": "string", "enum": ["parameter"]},
            "parameter": {"type": "string", "description": 'JSON: {"parameter_id", "parameter_source", "parameters", "parameter_index"}'},
        },
    },
}

ROUTES = [route("/trial-channel/{trial_id}", TrialChannelHandler)]
