"""Hypothesis strategies that build any request message from its descriptor: random and hostile strings,
extreme numbers, unknown enum values, missing fields, repeated map keys on the wire, and invalid UTF-8
spliced into string fields (which the wire allows and protobuf refuses)."""

from __future__ import annotations

import asyncio
import collections
import os
from pathlib import Path

import grpc
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 1, -1, 5, 100, 1_000_000, 1_000_001, 2**31]))
INT32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, -1, 20, 100, 101]))
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", "u1", "a/b", "..", " x ", "a@b.c", "\x00", "k" * 256, "x" * 5000, "y" * 60_000, "cs_test_123"]
    ),
)


def _field_value(field: F, depth: int):
    if field.type == F.TYPE_STRING:
        return TEXT
    if field.type == F.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return INT64
    if field.type in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32, F.TYPE_ENUM):
        return INT32
    if field.type == F.TYPE_MESSAGE:
        return message_strategy(field.message_type._concrete_class, depth + 1)
    return st.none()


def message_strategy(cls: type[Message], depth: int = 0) -> st.SearchStrategy[Message]:
    if depth > 2:
        return st.just(cls())
    parts = {}
    for field in cls.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_f, value_f = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            parts[field.name] = st.dictionaries(_field_value(key_f, depth), _field_value(value_f, depth), max_size=20)
        elif field.is_repeated:
            parts[field.name] = st.lists(_field_value(field, depth), max_size=4)
        else:
            parts[field.name] = st.one_of(st.none(), _field_value(field, depth))

    @st.composite
    def build(draw):
        msg = cls()
        for name, strategy in parts.items():
            value = draw(strategy)
            if value is None:
                continue
            field = cls.DESCRIPTOR.fields_by_name[name]
            if isinstance(value, dict):
                getattr(msg, name).update(value)
            elif isinstance(value, list):
                if field.type == F.TYPE_MESSAGE:
                    getattr(msg, name).extend(value)
                else:
                    getattr(msg, name).extend(value)
            elif isinstance(value, Message):
                getattr(msg, name).CopyFrom(value)
            else:
                setattr(msg, name, value)
        return msg

    return build()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def wire_bytes(cls: type[Message]) -> st.SearchStrategy[bytes]:
    """Serialized requests, sometimes with a string field overwritten by invalid UTF-8 or a map key
    repeated on the wire (the last value wins in protobuf)."""
    string_fields = [f.number for f in cls.DESCRIPTOR.fields if f.type == F.TYPE_STRING]

    @st.composite
    def build(draw):
        data = draw(message_strategy(cls)).SerializeToString()
        if string_fields and draw(st.booleans()):
            number = draw(st.sampled_from(string_fields))
            junk = draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"a\xed\xa0\x80", b"\x80"]))
            data += _varint(number << 3 | 2) + _varint(len(junk)) + junk
        if draw(st.booleans()):
            data += data  # every field twice: repeated map keys, repeated scalars
        return data

    return build()


# What a fuzzed RPC may answer: never UNKNOWN, INTERNAL or a transport error.
ALLOWED_CODES = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
    }
)


def fuzz_method(
    channel: grpc.Channel,
    service: str,
    method: str,
    request_cls: type[Message],
    seen: collections.Counter,
    max_examples: int,
) -> None:
    """Sends hypothesis-generated wire bytes to one method; fails on any code outside ALLOWED_CODES.
    FUZZ_MAX_EXAMPLES overrides max_examples for a deeper run by hand (CI keeps the default)."""
    max_examples = int(os.environ.get("FUZZ_MAX_EXAMPLES") or max_examples)
    call = channel.unary_unary(
        f"/{service}/{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )

    @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=wire_bytes(request_cls))
    def fuzz(data: bytes) -> None:
        try:
            call(data, timeout=30)
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = exc.code()
        seen[(method, code.name)] += 1
        assert code in ALLOWED_CODES, f"{method} answered {code.name} to {data[:300]!r}"

    fuzz()


def audit_sqlite_file(db: Path) -> int:
    """`python -m profile_service audit`'s check, run on a SQLite file from synchronous code."""
    from profile_service.audit import run_audit
    from profile_service.store.sqlite_store import SqliteStore

    async def audit() -> int:
        store = SqliteStore(db)
        await store.start()
        try:
            return await run_audit(store)
        finally:
            await store.close()

    return asyncio.run(audit())
