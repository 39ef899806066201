"""The dubbing pages' error codes, in words a merchant understands (merged into ERROR_MESSAGES)."""

from __future__ import annotations

from server.console.i18n import N_

DUB_ERRORS = {
    "missing_file": N_("Choose a video file first."),
    "invalid_request": N_("Some of the choices are not valid: check the languages and try again."),
    "missing_keywords": N_("Give some keywords or product facts for the script."),
    "too_many_languages": N_("Too many languages for one job: choose fewer."),
    "language_not_supported": N_("One of the languages cannot be dubbed on this server."),
    "no_voice_for_language": N_("There is no voice for one of the languages."),
    "invalid_script": N_("A script is not valid: check its lines and timings."),
    "empty_script": N_("A script is empty: write the voice-over for every chosen language."),
    "glossary_not_found": N_("That glossary no longer exists."),
    "storage_quota_exceeded": N_("Your storage is full: delete old jobs first."),
    "concurrent_jobs_exceeded": N_("You have as many jobs running as you may: wait for one."),
    "video_disabled": N_("Video dubbing is not enabled on this server."),
    "artifact_not_found": N_("That file is not there, or it has been deleted."),
    "qa_not_passed": N_("The dub did not pass the quality check."),
}
