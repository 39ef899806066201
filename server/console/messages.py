"""Errors in the viewer's language: the API's message for an error code the catalog knows,
else the API's own (English) message. Page families add the codes their forms can meet."""

from __future__ import annotations

from fastapi import Request

from server.console.dub_messages import DUB_ERRORS
from server.console.i18n import N_
from server.console.operator_messages import OPERATOR_ERRORS
from server.console.pages import gettext_for
from server.console.text_messages import TEXT_ERRORS
from server.errors import APIError

ERROR_MESSAGES = {
    **TEXT_ERRORS,
    **OPERATOR_ERRORS,
    **DUB_ERRORS,
    "admin_required": N_("This page is for operators: sign in with an admin key."),
    "csrf_failed": N_("This page is out of date: reload it and try again."),
    "console_not_local": N_(
        "Without API keys the console opens only on this computer: type its address "
        "(http://localhost:PORT) in the address bar."
    ),
    "invalid_api_key": N_("That key is not valid, or it has been revoked."),
    "job_not_found": N_("There is no such job, or it has been deleted."),
    "invalid_video": N_("That file is not a video we can read."),
    "no_video_stream": N_("That file has no video picture."),
    "video_limits_exceeded": N_("That video is too long or too large for this server."),
    "request_too_large": N_("That file is larger than this server accepts."),
    "upload_not_found": N_("The uploaded video is gone: upload it again."),
    "rate_limit_exceeded": N_("Too many requests: wait a minute and try again."),
    "queue_full": N_("The server is busy: try again in a moment."),
    "model_unavailable": N_("A model could not be loaded: ask the operator."),
    "not_a_dubbing_job": N_("Only a dubbed video can be edited and re-dubbed."),
    "job_not_finished": N_("This dub is not finished yet: edit it when it is done."),
    "job_has_no_dub": N_("This job ended without a dub: there is nothing to edit."),
    "source_not_kept": N_("This job no longer keeps its video: dub the clip again."),
    "language_not_dubbed": N_("That language was not dubbed in this job."),
    "nothing_edited": N_("Change at least one line before re-dubbing"),
}


def error_message(request: Request, error: APIError) -> str:
    known = ERROR_MESSAGES.get(error.code or "")
    return gettext_for(request)(known) if known else error.message
