'use strict';
// What the Node server and client of spanwire.test.Echo share: the message
// codec (google.protobuf.StringValue by hand, no .proto loading) and the
// command language (see ../README.md).

const SERVICE = 'spanwire.test.Echo';
const METHODS = ['Unary', 'ServerStream', 'ClientStream', 'Bidi'];

// Identical in the Go, Python and Node servers so that tests compare them exactly.
const NOT_FOUND_MESSAGE = 'not found: requested by client';
const INTERNAL_MESSAGE = 'internal error: requested by client';

const MAX_BIG = 1 << 20;
const MAX_SLEEP_MS = 60000;
const MAX_MESSAGES = 10000;

function fullMethod(method) {
  return `/${SERVICE}/${method}`;
}

function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** StringValue{value} in protobuf wire format (an empty string is omitted). */
function encode(value) {
  const data = Buffer.from(value, 'utf8');
  if (data.length === 0) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([0x0a]), varint(data.length), data]);
}

function readVarint(buf, pos) {
  let n = 0;
  for (let shift = 0; shift < 64; shift += 7) {
    if (pos >= buf.length) break;
    const b = buf[pos++];
    n += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [n, pos];
  }
  throw new Error('truncated or overlong varint');
}

/** The value of a serialized StringValue; unknown fields are skipped. */
function decode(buf) {
  let pos = 0;
  let value = '';
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      [, pos] = readVarint(buf, pos);
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else if (wire === 2) {
      let size;
      [size, pos] = readVarint(buf, pos);
      if (pos + size > buf.length) throw new Error('truncated field');
      if (field === 1) value = buf.toString('utf8', pos, pos + size);
      pos += size;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  if (pos !== buf.length) throw new Error('truncated fixed-width field');
  return value;
}

/** Number(text) if it is a decimal in 0..limit, else null. */
function bounded(text, limit) {
  if (!/^[0-9]+$/.test(text)) return null;
  const n = Number(text);
  return n <= limit ? n : null;
}

/**
 * A ServerStream command "n:<count>[:not_found|:internal]" as
 * {count, final: error name or null}; null for any other command.
 */
function parseStream(cmd) {
  if (!cmd.startsWith('n:')) return null;
  const [countText, ...rest] = cmd.slice(2).split(':');
  const final = rest.join(':');
  const count = bounded(countText, MAX_MESSAGES);
  if (count === null || !['', 'not_found', 'internal'].includes(final)) return null;
  return { count, final: final || null };
}

/** True for a plain client-stream message "m<i>" (not a command). */
function isClientMessage(value) {
  return /^m[0-9]+$/.test(value);
}

function streamReply(i) {
  return `reply ${i}`;
}

/**
 * Messages a client sends: for the client-streaming methods "n:<count>"
 * becomes m1..m<count>; anything else is one message.
 */
function clientRequests(method, command) {
  const m = /^n:([0-9]+)$/.exec(command);
  if ((method === 'ClientStream' || method === 'Bidi') && m) {
    return Array.from({ length: Number(m[1]) }, (_, i) => `m${i + 1}`);
  }
  return [command];
}

module.exports = {
  SERVICE,
  METHODS,
  NOT_FOUND_MESSAGE,
  INTERNAL_MESSAGE,
  MAX_BIG,
  MAX_SLEEP_MS,
  fullMethod,
  encode,
  decode,
  bounded,
  parseStream,
  isClientMessage,
  streamReply,
  clientRequests,
};
