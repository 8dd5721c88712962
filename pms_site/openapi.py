"""The error answers every API operation can give, added to the OpenAPI schema in one place.

drf-spectacular documents an operation's success answer; the errors come from shared machinery (DRF's
authentication, permissions, parsers, filters and ``pms_site/drf.py``), so they are documented here rather
than on every view. An operation that documents its errors itself (the ingest endpoint) keeps its own list.
"""

ERROR_SCHEMA = {
    "type": "object",
    "description": "``detail`` says what is wrong; a bad field is named as a key holding its messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
HTTP_METHODS = {"get", "put", "patch", "post", "delete"}


def _error(description):
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the shared error answers to each operation."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if any(code.startswith("4") for code in responses):
                continue
            errors = {
                "400": "A query parameter or a field of the body is invalid; the answer names it.",
                "503": "The database is unavailable; try again after Retry-After seconds.",
            }
            if {} not in operation.get("security", [{}]):  # {} stands for "no credentials needed"
                errors["401"] = "No credentials, or credentials that are unknown, revoked or expired."
                errors["403"] = "The credentials are valid, but this role may not do this."
            if "{" in path:
                errors["404"] = "No object has this id."
            for code, description in errors.items():
                responses.setdefault(code, _error(description))
    return result
