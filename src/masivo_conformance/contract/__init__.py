"""The contract as data: JSON Schemas, the OpenAPI document, the requirement catalogue
and the route table. The lowest layer of the package: it imports only `errors`.

The schema functions are re-exported here, so callers say `contract.validate(...)`.
"""

from masivo_conformance.contract.schemas import (
    SchemaViolation,
    check_complete,
    is_valid,
    openapi_path,
    registry,
    schema,
    schemas_dir,
    surely_valid,
    validate,
    validator,
)

__all__ = [
    "SchemaViolation",
    "check_complete",
    "is_valid",
    "openapi_path",
    "registry",
    "schema",
    "schemas_dir",
    "surely_valid",
    "validate",
    "validator",
]
