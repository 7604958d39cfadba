"""The options of each octoplant export kind, as the vendor's swagger gives them, and their checks.

The table is the swagger "octoplant API" 1.2 (definitions octoplant.exportapi.v1.<Kind>, reached from
ExportContents); tests/test_octoplant.py checks it against the emulators' copy. The server reads
exportContents with protojson's DiscardUnknown (grpc-gateway's default marshaler): an option name or an enum
value it does not know is dropped without a word, so they are checked here before anything is ordered.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple, Union

from cirelay.errors import InputError

BOOL = "boolean"
STRING = "string"
INT32 = "int32"
UUID = "Uuid"  # auvesy.versiondog.common.v1.Uuid: {"data": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}
TIME_FILTER = "TimeFilter"  # {"filterFrom", "filterTo"}: RFC 3339 date-times in UTC

OptionType = Union[str, Tuple[str, ...]]  # a type name above, or the values of an enum

_CSV = ("EXPORT_TYPE_UNSPECIFIED", "EXPORT_TYPE_CSV", "EXPORT_TYPE_JSON")
_XML = ("EXPORT_TYPE_UNSPECIFIED", "EXPORT_TYPE_XML", "EXPORT_TYPE_JSON")

KIND_OPTIONS: Dict[str, Dict[str, OptionType]] = {
    "projectTree": {
        "exportType": _XML,
        "flatExport": BOOL,
        "dir": STRING,
        "componentId": STRING,
        "versionInformation": (
            "VERSION_INFORMATION_UNSPECIFIED",
            "VERSION_INFORMATION_NOT_INCLUDED",
            "VERSION_INFORMATION_ONLY_LATEST",
            "VERSION_INFORMATION_ALL",
        ),
        "includeMasterData": BOOL,
        "enableNodeTree": BOOL,
    },
    "jobList": {
        "exportType": _CSV,
        "flatExport": BOOL,
        "dir": STRING,
        "componentId": STRING,
        "includeComponentsWithoutJobs": BOOL,
        "csvSeparator": STRING,
    },
    "jobResults": {
        "exportType": _CSV,
        "flatExport": BOOL,
        "dir": STRING,
        "componentId": STRING,
        "timeStampFilter": TIME_FILTER,
        "lastXDays": INT32,
        "sorting": ("SORT_BY_UNSPECIFIED", "SORT_BY_TIMESTAMP_DESCENDING", "SORT_BY_JOB_ID"),
        "csvSeparator": STRING,
    },
    "unequalJobResults": {
        "exportType": _CSV,
        "flatExport": BOOL,
        "dir": STRING,
        "componentId": STRING,
        "csvSeparator": STRING,
    },
    "userManagement": {
        "exportType": _XML,
        "flatExport": BOOL,
        "grouping": ("GROUP_BY_UNSPECIFIED", "GROUP_BY_GROUPS", "GROUP_BY_USERS"),
        "includeDeletedUsers": BOOL,
    },
    "componentTypes": {"exportType": _XML, "flatExport": BOOL},
    "componentLog": {
        "exportType": _CSV,
        "flatExport": BOOL,
        "componentId": UUID,
        "timeStampFilter": TIME_FILTER,
        "lastXDays": INT32,
        "csvSeparator": STRING,
    },
    "eventLog": {
        "exportType": _CSV,
        "flatExport": BOOL,
        "includeRawData": BOOL,
        "timeStampFilter": TIME_FILTER,
        "lastXDays": INT32,
        "maxLines": INT32,
        "csvSeparator": STRING,
    },
    "adminLog": {
        "exportType": _CSV,
        "flatExport": BOOL,
        "timeStampFilter": TIME_FILTER,
        "lastXDays": INT32,
        "maxLines": INT32,
        "csvSeparator": STRING,
    },
    "standardLibraryManagement": {"exportType": _CSV, "flatExport": BOOL, "csvSeparator": STRING},
    "componentsWithStdLibAssignments": {"exportType": _CSV, "flatExport": BOOL, "csvSeparator": STRING},
    "assetState": {
        "exportType": _CSV,
        "flatExport": BOOL,
        "infoType": ("INFO_TYPE_UNSPECIFIED", "INFO_TYPE_SAFETY", "INFO_TYPE_MODULE", "INFO_TYPE_RAW"),
        "dir": STRING,
        "componentId": STRING,
        "csvSeparator": STRING,
    },
    "usageInformation": {"includeClientTrackingInfo": BOOL},
}
EXPORT_KINDS = tuple(KIND_OPTIONS)  # the swagger's ExportContents, in its order
DEFAULT_KIND = "projectTree"
TIME_FILTER_FIELDS = ("filterFrom", "filterTo")

INT32_RANGE = (-(1 << 31), (1 << 31) - 1)
# The Uuid's form as its swagger title gives it: "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa".
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# google.protobuf.Timestamp in JSON: RFC 3339 with a zone (protobuf-go encoding/protojson well_known_types.go).
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_TIME_EXAMPLE = "2023-10-01T00:00:00Z"


class OptionError(ValueError):
    """An option the server would not take as meant: the message names it and what is valid."""


def _names(values: Any) -> str:
    return ", ".join(values)


def _enum_prefix(values: Tuple[str, ...]) -> str:
    """EXPORT_TYPE_ for the export types: what may be left out in --option (exportType=json)."""
    parts = [value.split("_") for value in values]
    shared = 0
    while all(len(p) > shared + 1 and p[shared] == parts[0][shared] for p in parts):
        shared += 1
    return "".join(f"{word}_" for word in parts[0][:shared])


def _type_name(kind: OptionType) -> str:
    if isinstance(kind, tuple):
        return "one of " + _names(kind)
    return {
        BOOL: "true or false",
        STRING: "a string",
        INT32: "a whole number (int32)",
        UUID: 'a component id (aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa, or {"data": ID})',
        TIME_FILTER: f'an object {{"filterFrom": …, "filterTo": …}} of RFC 3339 times, e.g. {_TIME_EXAMPLE}',
    }[kind]


def _check_time(value: Any, where: str) -> str:
    found = _RFC3339.match(value) if isinstance(value, str) else None
    if found:
        try:
            datetime.strptime(f"{found.group(1)}T{found.group(2)}", "%Y-%m-%dT%H:%M:%S")
            return str(value)
        except ValueError:
            pass
    raise OptionError(f"{where} must be an RFC 3339 time with a zone, e.g. {_TIME_EXAMPLE}, got {value!r}")


def _check_uuid(value: Any, where: str) -> Dict[str, str]:
    data = value.get("data") if isinstance(value, dict) and set(value) == {"data"} else value
    if isinstance(data, str) and _UUID.match(data):
        return {"data": data}
    raise OptionError(f"{where} must be {_type_name(UUID)}, got {value!r}")


def check_value(kind: str, name: str, value: Any) -> Any:
    """One option's value as the server takes it (a plain component id becomes {"data": ID}); OptionError if not."""
    known = KIND_OPTIONS[kind]
    where = f"{kind}.{name}"
    if name not in known:
        raise OptionError(f"{kind} has no option {name!r}; its options: {_names(known)}")
    expected = known[name]
    if isinstance(expected, tuple):
        if isinstance(value, str) and value in expected:
            return value
        raise OptionError(f"{where} must be one of {_names(expected)}, got {value!r}")
    if expected == BOOL and isinstance(value, bool):
        return value
    if expected == STRING and isinstance(value, str):
        return value
    if expected == INT32 and isinstance(value, int) and not isinstance(value, bool):
        if INT32_RANGE[0] <= value <= INT32_RANGE[1]:
            return value
    if expected == UUID:
        return _check_uuid(value, where)
    if expected == TIME_FILTER and isinstance(value, dict):
        unknown = [key for key in value if key not in TIME_FILTER_FIELDS]
        if unknown:
            raise OptionError(f"{where} has no field {unknown[0]!r}; its fields: {_names(TIME_FILTER_FIELDS)}")
        return {key: _check_time(item, f"{where}.{key}") for key, item in value.items()}
    raise OptionError(f"{where} must be {_type_name(expected)}, got {value!r}")


def check_options(kind: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """A kind's options object checked against its swagger definition, normalised for the server."""
    return {name: check_value(kind, name, value) for name, value in options.items()}


def _from_text(kind: str, path: List[str], text: str) -> Any:
    """The typed value of `--option KIND.NAME=TEXT` (enum names also short and in any case: json)."""
    name = path[0]
    known = KIND_OPTIONS[kind]
    if name not in known:
        raise OptionError(f"{kind} has no option {name!r}; its options: {_names(known)}")
    expected = known[name]
    where = f"{kind}.{'.'.join(path)}"
    if expected == TIME_FILTER:
        if len(path) != 2 or path[1] not in TIME_FILTER_FIELDS:
            fields = " or ".join(f"{kind}.{name}.{field}" for field in TIME_FILTER_FIELDS)
            raise OptionError(f"give {where} as {fields}")
        return {path[1]: _check_time(text, where)}
    if len(path) != 1:
        raise OptionError(f"{kind}.{name} has no fields; give it as {kind}.{name}=VALUE")
    if isinstance(expected, tuple):
        prefix = _enum_prefix(expected)
        for value in expected:
            if text.strip().upper() in (value, value[len(prefix) :]):
                return value
        raise OptionError(f"{where} must be one of {_names(expected)}, got {text!r}")
    if expected == BOOL:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise OptionError(f"{where} must be true or false, got {text!r}")
    if expected == INT32:
        try:
            number = int(text)
        except ValueError:
            raise OptionError(f"{where} must be {_type_name(INT32)}, got {text!r}")
        return check_value(kind, name, number)
    if expected == UUID:
        return _check_uuid(text, where)
    return text


def apply_option(contents: Dict[str, Any], spec: str) -> None:
    """Add `KIND.NAME=VALUE` (or KIND.NAME.FIELD=VALUE for a time filter) to exportContents, checked."""
    target, sep, text = spec.partition("=")
    path = target.strip().split(".")
    if not sep or len(path) < 2 or not all(path):
        raise OptionError(f"expected KIND.NAME=VALUE, e.g. projectTree.exportType=EXPORT_TYPE_JSON, got {spec!r}")
    kind = next((k for k in EXPORT_KINDS if k.lower() == path[0].lower()), None)
    if kind is None:
        raise OptionError(_unknown_kind(path[0]))
    value = _from_text(kind, path[1:], text)
    options = contents.setdefault(kind, {})
    name = path[1]
    if isinstance(value, dict) and KIND_OPTIONS[kind][name] == TIME_FILTER:
        options[name] = {**options.get(name, {}), **value}
    else:
        options[name] = value


def _unknown_kind(kind: str) -> str:
    return (
        f"unknown export kind {kind!r}; known kinds: {_names(EXPORT_KINDS)} (--raw-contents sends others as they are)"
    )


def build_contents(
    kinds: Tuple[str, ...],
    contents_json: Optional[Dict[str, Any]] = None,
    option_specs: Tuple[str, ...] = (),
    raw: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """exportContents from the export command's options, each checked against the swagger (InputError if not).

    --contents-json gives kinds with options, --contents adds {"<kind>": {}}, --option sets one option,
    and --raw-contents is merged last, unchecked (kinds and options a newer server knows), its options winning.
    """
    contents: Dict[str, Any] = {}
    if contents_json is not None:
        if not contents_json and not (kinds or option_specs or raw):
            raise InputError("names no export kind", param_hint="'--contents-json'")
        for kind, options in contents_json.items():
            if kind not in KIND_OPTIONS:
                raise InputError(_unknown_kind(kind), param_hint="'--contents-json'")
            if not isinstance(options, dict):
                raise InputError(
                    f"the options of {kind} must be a JSON object, got {type(options).__name__}",
                    param_hint="'--contents-json'",
                )
            try:
                contents[kind] = check_options(kind, options)
            except OptionError as exc:
                raise InputError(str(exc), param_hint="'--contents-json'")
    for kind in kinds:
        contents.setdefault(kind, {})
    for spec in option_specs:
        try:
            apply_option(contents, spec)
        except OptionError as exc:
            raise InputError(str(exc), param_hint="'--option'")
    for kind, options in (raw or {}).items():
        if not isinstance(options, dict):
            raise InputError(
                f"the options of {kind} must be a JSON object, got {type(options).__name__}",
                param_hint="'--raw-contents'",
            )
        contents[kind] = {**contents.get(kind, {}), **options}
    return contents or {DEFAULT_KIND: {}}
