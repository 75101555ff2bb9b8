"""What the Python server and client of spanwire.test.Echo share: the message
codec (google.protobuf.StringValue by hand, so only grpcio is needed) and the
command language (see ../README.md)."""

SERVICE = "spanwire.test.Echo"
METHODS = ("Unary", "ServerStream", "ClientStream", "Bidi")

# Identical in the Go, Python and Node servers so that tests compare them exactly.
NOT_FOUND_MESSAGE = "not found: requested by client"
INTERNAL_MESSAGE = "internal error: requested by client"

MAX_BIG = 1 << 20
MAX_SLEEP_MS = 60_000
MAX_MESSAGES = 10_000


def full_method(method):
    """The HTTP/2 :path of a method."""
    return "/%s/%s" % (SERVICE, method)


def _varint(n):
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def encode(value):
    """StringValue{value} in protobuf wire format (an empty string is omitted)."""
    data = value.encode("utf-8")
    if not data:
        return b""
    return b"\x0a" + _varint(len(data)) + data


def _read_varint(buf, pos):
    shift, n = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def decode(buf):
    """The value of a serialized StringValue; unknown fields are skipped."""
    pos, value = 0, ""
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _read_varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated field")
            if field == 1:
                value = bytes(buf[pos:pos + size]).decode("utf-8")
            pos += size
        else:
            raise ValueError("unsupported wire type %d" % wire)
    if pos != len(buf):
        raise ValueError("truncated fixed-width field")
    return value


def bounded(text, limit):
    """int(text) if it is a decimal in 0..limit, else None."""
    if not text.isdigit():
        return None
    n = int(text)
    return n if n <= limit else None


def parse_stream(cmd):
    """A ServerStream command "n:<count>[:not_found|:internal]" as
    (count, final error name or None); None for any other command."""
    if not cmd.startswith("n:"):
        return None
    count_text, _, final = cmd[2:].partition(":")
    count = bounded(count_text, MAX_MESSAGES)
    if count is None or final not in ("", "not_found", "internal"):
        return None
    return count, final or None


def is_client_message(value):
    """True for a plain client-stream message "m<i>" (not a command)."""
    return value.startswith("m") and value[1:].isdigit()


def stream_reply(i):
    return "reply %d" % i


def client_requests(method, command):
    """Messages a client sends: for the client-streaming methods "n:<count>"
    becomes m1..m<count>; anything else is one message."""
    if method in ("ClientStream", "Bidi") and command.startswith("n:") and command[2:].isdigit():
        return ["m%d" % i for i in range(1, int(command[2:]) + 1)]
    return [command]
