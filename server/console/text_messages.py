"""The errors the text tools' forms can meet (translate, copywriting, glossaries), by code, in
the merchant's words. A module of its own so that server.console.messages can merge it without
importing the pages (which import the route class, which imports the messages)."""

from __future__ import annotations

from server.console.i18n import N_

TEXT_ERRORS = {
    "text_empty": N_("Type or paste the text to translate."),
    "text_too_long": N_("That text is too long for this page: split it into shorter parts."),
    "no_target_language": N_("Choose at least one language."),
    "unsupported_language": N_("That language is not supported."),
    "too_much_work": N_("That is too much work for one request: choose fewer languages."),
    "timeout": N_("This took too long and was stopped: try a shorter text or fewer languages."),
    "context_length_exceeded": N_(
        "The glossary is too large for the model: choose a smaller one, or none."
    ),
    "invalid_glossary_name": N_(
        "A glossary name has 1 to 64 letters, digits, '.', '_' or '-', and starts with a letter "
        "or digit."
    ),
    "invalid_glossary": N_(
        "A glossary line is not valid: write the term, then optionally | language=translation "
        "(a supported language code, a translation that is not empty)."
    ),
    "glossary_exists": N_("A glossary with that name exists already: open it to edit it."),
    "product_name_empty": N_("Enter the product's name."),
    "invalid_product": N_(
        "A product detail is not valid: each one has at most 200 characters, the features and "
        "keywords at most 20 and 40 items."
    ),
    "unknown_preset": N_("Choose one of the listed sales channels."),
    "too_many_lines": N_("That text has too many lines for one check: check it in parts."),
    "copy_validation_failed": N_(
        "The model's copy did not pass the checks after several tries: try again, or choose "
        "fewer languages."
    ),
}
