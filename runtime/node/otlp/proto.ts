import type { Attributes, HrTime } from '@opentelemetry/api';

/**
 * The protobuf wire format as the OTLP serialisers write it (one per message: spans.ts for traces),
 * into a growing off-heap buffer, and the messages every OTLP request shares (attributes, resource,
 * instrumentation scope). The field order and encodings are exactly the reference serializer's
 * (@opentelemetry/otlp-transformer).
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const HEX = new Uint8Array(128);
for (let digit = 0; digit < 16; digit++) {
  HEX['0123456789abcdef'.charCodeAt(digit)] = digit;
  HEX['0123456789ABCDEF'.charCodeAt(digit)] = digit;
}

export const varintSize = (value: number) =>
  value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;

export class ProtoBuffer {
  buffer: Buffer;
  pos = 0;

  constructor(size = 16384) {
    // memory of its own: a slice of Node's shared pool (64 KiB blocks since Node 24) would keep a
    // whole block alive for as long as this buffer lives
    this.buffer = Buffer.allocUnsafeSlow(Math.max(size, 16));
  }

  reset() {
    this.pos = 0;
  }

  /** A copy of the bytes written, independent of later writes. */
  bytes(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.pos));
  }

  /** The bytes written, without copying; only for a buffer that is not written to again. */
  view(): Buffer {
    return this.buffer.subarray(0, this.pos);
  }

  /** Room for `extra` more bytes, growing the buffer when needed. */
  ensure(extra: number) {
    if (this.pos + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.pos + extra) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
    this.buffer.copy(grown, 0, 0, this.pos);
    this.buffer = grown;
  }

  varint(value: number) {
    this.ensure(10);
    const buffer = this.buffer;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 127) {
        buffer[this.pos++] = (v & 127) | 128;
        v >>>= 7;
      }
      buffer[this.pos++] = v;
      return;
    }
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 4294967296) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = ~(abs >>> 0) >>> 0;
      high = ~((abs / 4294967296) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 127) {
      buffer[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buffer[this.pos++] = low & 127;
  }

  tag(field: number, wire: number) {
    this.varint((field << 3) | wire);
  }

  fixed32(value: number) {
    this.ensure(4);
    this.buffer.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  double(value: number) {
    this.ensure(8);
    this.buffer.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  string(text: string) {
    const length = text.length;
    // short ASCII strings (keys, methods, routes, ids) are copied in JS: cheaper than a native call
    if (length < 128) {
      this.ensure(1 + length);
      const buffer = this.buffer;
      const start = this.pos;
      let at = start + 1;
      for (let i = 0; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code > 127) {
          at = -1;
          break;
        }
        buffer[at++] = code;
      }
      if (at !== -1) {
        buffer[start] = length;
        this.pos = at;
        return;
      }
    }
    const bytes = Buffer.byteLength(text);
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.buffer.write(text, this.pos, 'utf8');
  }

  raw(bytes: Uint8Array) {
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Appends another buffer's bytes as they are (already tagged fields). */
  append(other: ProtoBuffer) {
    this.ensure(other.pos);
    other.buffer.copy(this.buffer, this.pos, 0, other.pos);
    this.pos += other.pos;
  }

  hexId(hex: string) {
    const length = hex.length >>> 1;
    this.ensure(1 + length);
    this.buffer[this.pos] = length;
    this.pos = hexBytes(this.buffer, this.pos + 1, hex);
  }

  /** An id's length and bytes, copied from where it was generated. */
  idBytes(source: Uint8Array, at: number, length: number) {
    this.ensure(1 + length);
    this.buffer[this.pos] = length;
    this.pos = copyBytes(this.buffer, this.pos + 1, source, at, length);
  }

  /** Reserves one length byte; `end` moves the content when the length needs more. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  end(start: number) {
    const length = this.pos - start - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.ensure(size - 1);
      this.buffer.copy(this.buffer, start + size, start + 1, this.pos);
      this.pos += size - 1;
    }
    let at = start;
    let v = length;
    while (v > 127) {
      this.buffer[at++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buffer[at] = v;
  }
}

export function hrTime(out: ProtoBuffer, time: HrTime) {
  out.ensure(8);
  out.pos = putTimestamp(out.buffer, out.pos, time[0], time[1]);
}

/** Epoch milliseconds as the tracer's HrTime getters would give them, without the array. */
export function epochMs(out: ProtoBuffer, ms: number) {
  out.ensure(8);
  out.pos = putEpochMs(out.buffer, out.pos, ms);
}

export function anyValue(out: ProtoBuffer, value: unknown) {
  switch (typeof value) {
    case 'string':
      out.tag(1, WIRE_LEN);
      out.string(value);
      return;
    case 'boolean':
      out.tag(2, WIRE_VARINT);
      out.varint(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63) {
        out.tag(3, WIRE_VARINT);
        out.varint(value);
      } else {
        out.tag(4, WIRE_FIXED64);
        out.double(value);
      }
      return;
    case 'object':
      if (value === null) return;
      if (value instanceof Uint8Array) {
        out.tag(7, WIRE_LEN);
        out.raw(value);
      } else if (Array.isArray(value)) {
        out.tag(5, WIRE_LEN);
        const list = out.begin();
        for (const item of value) {
          out.tag(1, WIRE_LEN);
          const element = out.begin();
          anyValue(out, item);
          out.end(element);
        }
        out.end(list);
      } else {
        out.tag(6, WIRE_LEN);
        const list = out.begin();
        for (const key in value) {
          if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
          out.tag(1, WIRE_LEN);
          const pair = out.begin();
          keyValue(out, key, (value as Record<string, unknown>)[key]);
          out.end(pair);
        }
        out.end(list);
      }
      return;
    default:
  }
}

export function keyValue(out: ProtoBuffer, key: string, value: unknown) {
  out.tag(1, WIRE_LEN);
  out.string(key);
  out.tag(2, WIRE_LEN);
  const start = out.begin();
  anyValue(out, value);
  out.end(start);
}

export function attribute(out: ProtoBuffer, field: number, key: string, value: unknown) {
  out.tag(field, WIRE_LEN);
  const start = out.begin();
  keyValue(out, key, value);
  out.end(start);
}

export function attributes(out: ProtoBuffer, values: Attributes, field: number) {
  for (const key in values) {
    if (Object.prototype.hasOwnProperty.call(values, key)) attribute(out, field, key, values[key]);
  }
}

/** Writes a length below 2^14; the caller checked. */
export function putLength(b: Buffer, p: number, length: number) {
  if (length < 0x80) {
    b[p] = length;
    return p + 1;
  }
  b[p] = (length & 0x7f) | 0x80;
  b[p + 1] = length >>> 7;
  return p + 2;
}

export function copyBytes(b: Buffer, p: number, source: Uint8Array, at: number, length: number) {
  for (let i = 0; i < length; i++) b[p + i] = source[at + i]!;
  return p + length;
}

export function hexBytes(b: Buffer, p: number, hex: string) {
  for (let i = 0; i < hex.length; i += 2)
    b[p++] = (HEX[hex.charCodeAt(i)]! << 4) | HEX[hex.charCodeAt(i + 1)]!;
  return p;
}

/** A fixed64 nanosecond timestamp from epoch milliseconds, rounded as the HrTime conversion does. */
export function putEpochMs(b: Buffer, p: number, ms: number) {
  const seconds = Math.trunc(ms / 1000);
  return putTimestamp(b, p, seconds, Math.round((ms - seconds * 1000) * 1e6));
}

export function putTimestamp(b: Buffer, p: number, seconds: number, nanos: number) {
  // seconds * 1e9 + nanos exceeds 2^53, so the 64-bit value is assembled from two 32-bit halves
  const lowSeconds = seconds & 0xffff;
  const highSeconds = (seconds / 65536) >>> 0;
  const fromLow = lowSeconds * 1e9;
  const fromHigh = highSeconds * 1e9;
  const lowWithCarry = (fromLow >>> 0) + ((((fromHigh & 0xffff) * 65536) >>> 0) + nanos);
  const carry = Math.floor(lowWithCarry / 4294967296);
  const high = (Math.floor(fromLow / 4294967296) + ((fromHigh / 65536) >>> 0) + carry) >>> 0;
  const low = lowWithCarry >>> 0;
  b[p] = low & 0xff;
  b[p + 1] = (low >>> 8) & 0xff;
  b[p + 2] = (low >>> 16) & 0xff;
  b[p + 3] = low >>> 24;
  b[p + 4] = high & 0xff;
  b[p + 5] = (high >>> 8) & 0xff;
  b[p + 6] = (high >>> 16) & 0xff;
  b[p + 7] = high >>> 24;
  return p + 8;
}

export interface Scope {
  name: string;
  version?: string;
  schemaUrl?: string;
}

/** `ResourceSpans.resource` (and the logs' and metrics' likewise, field 1): the resource's attributes. */
export function resource(out: ProtoBuffer, resourceAttributes: Attributes) {
  out.tag(1, WIRE_LEN);
  const start = out.begin();
  attributes(out, resourceAttributes, 1);
  out.tag(2, WIRE_VARINT);
  out.varint(0);
  out.end(start);
}

/** `ScopeSpans.scope` (and the logs' and metrics' likewise, field 1). */
export function scope(out: ProtoBuffer, value: Scope) {
  out.tag(1, WIRE_LEN);
  const start = out.begin();
  out.tag(1, WIRE_LEN);
  out.string(value.name);
  if (value.version) {
    out.tag(2, WIRE_LEN);
    out.string(value.version);
  }
  out.end(start);
}
