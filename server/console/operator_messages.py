"""What the operator pages' forms can be refused with, in the viewer's language (merged into
server.console.messages.ERROR_MESSAGES)."""

from __future__ import annotations

from server.console.i18n import N_

OPERATOR_ERRORS = {
    "invalid_tenant": N_(
        "A tenant's name is 1 to 64 letters, digits, dots, underscores or hyphens, "
        "starting with a letter or digit."
    ),
    "invalid_quota": N_(
        "That quota is not allowed: enter a positive number, or leave the field empty."
    ),
    "key_not_found": N_("There is no such key."),
    "invalid_period": N_("Choose a period of at most a year whose start is not after its end."),
}
