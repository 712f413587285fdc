/**
 * A small OTLP/HTTP trace receiver on loopback, standing in for an OpenTelemetry Collector: it
 * accepts POST /v1/traces as JSON or protobuf (decoded here by hand from the wire format and
 * opentelemetry-proto's field numbers) and keeps every span it is sent, in one plain shape.
 */
import { createServer } from "node:http";

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string; attributes: Record<string, unknown> }[];
  status: { code: number; message: string };
  resource: Record<string, unknown>;
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** Content types of the export requests received. */
  contentTypes: string[];
  /** Resolves once `predicate` holds for the spans received (polls; rejects after timeoutMs). */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      const type = String(request.headers["content-type"] ?? "");
      if (request.method !== "POST" || request.url !== "/v1/traces") {
        response.writeHead(404).end();
        return;
      }
      contentTypes.push(type);
      try {
        spans.push(
          ...(type.includes("json") ? fromJson(JSON.parse(body.toString("utf8"))) : fromProtobuf(body)),
        );
      } catch (error) {
        response.writeHead(400).end(String(error));
        return;
      }
      // An empty ExportTraceServiceResponse: full success.
      if (type.includes("json")) response.writeHead(200, { "content-type": "application/json" }).end("{}");
      else response.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    async waitFor(predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(spans)) {
        if (Date.now() > deadline)
          throw new Error(`spans not received in time; have: ${spans.map((s) => s.name).join(", ")}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

// --- OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): ids in hex.

type Json = Record<string, unknown>;

function jsonValue(v: Json): unknown {
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return v.doubleValue;
  if ("arrayValue" in v) return ((v.arrayValue as Json).values as Json[] | undefined)?.map(jsonValue) ?? [];
  return undefined;
}

function jsonAttributes(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of (list as Json[] | undefined) ?? [])
    out[kv.key as string] = jsonValue((kv.value as Json) ?? {});
  return out;
}

function fromJson(request: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (request.resourceSpans as Json[]) ?? []) {
    const resource = jsonAttributes((rs.resource as Json | undefined)?.attributes);
    for (const ss of (rs.scopeSpans as Json[]) ?? []) {
      for (const s of (ss.spans as Json[]) ?? []) {
        out.push({
          traceId: String(s.traceId ?? ""),
          spanId: String(s.spanId ?? ""),
          parentSpanId: String(s.parentSpanId ?? ""),
          name: String(s.name),
          kind: Number(s.kind ?? 0),
          startNs: BigInt(s.startTimeUnixNano as string),
          endNs: BigInt(s.endTimeUnixNano as string),
          attributes: jsonAttributes(s.attributes),
          links: ((s.links as Json[]) ?? []).map((l) => ({
            traceId: String(l.traceId),
            spanId: String(l.spanId),
            attributes: jsonAttributes(l.attributes),
          })),
          status: {
            code: Number((s.status as Json | undefined)?.code ?? 0),
            message: String((s.status as Json | undefined)?.message ?? ""),
          },
          resource,
        });
      }
    }
  }
  return out;
}

// --- OTLP/protobuf: the protobuf wire format, read field by field.

type Field = { n: number; varint?: bigint; bytes?: Buffer; fixed?: bigint };

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[at++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const n = key >>> 3;
    switch (key & 7) {
      case 0:
        out.push({ n, varint: varint() });
        break;
      case 1:
        out.push({ n, fixed: buf.readBigUInt64LE(at) });
        at += 8;
        break;
      case 2: {
        const len = Number(varint());
        out.push({ n, bytes: buf.subarray(at, at + len) });
        at += len;
        break;
      }
      case 5:
        out.push({ n, fixed: BigInt(buf.readUInt32LE(at)) });
        at += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
  }
  return out;
}

const all = (fs: Field[], n: number) => fs.filter((f) => f.n === n);
const one = (fs: Field[], n: number) => fs.find((f) => f.n === n);
const text = (f: Field | undefined) => f?.bytes?.toString("utf8") ?? "";
const hex = (f: Field | undefined) => f?.bytes?.toString("hex") ?? "";

function protoValue(buf: Buffer): unknown {
  const [f] = fields(buf);
  if (!f) return undefined;
  switch (f.n) {
    case 1:
      return text(f);
    case 2:
      return f.varint === 1n;
    case 3:
      return Number(BigInt.asIntN(64, f.varint ?? 0n));
    case 4: {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(f.fixed ?? 0n);
      return b.readDoubleLE();
    }
    case 5:
      return all(fields(f.bytes ?? Buffer.alloc(0)), 1).map((v) => protoValue(v.bytes ?? Buffer.alloc(0)));
    default:
      return undefined;
  }
}

function protoAttributes(list: Field[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list) {
    const fs = fields(kv.bytes ?? Buffer.alloc(0));
    out[text(one(fs, 1))] = protoValue(one(fs, 2)?.bytes ?? Buffer.alloc(0));
  }
  return out;
}

function fromProtobuf(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of all(fields(body), 1)) {
    const rsf = fields(rs.bytes ?? Buffer.alloc(0));
    const resource = protoAttributes(all(fields(one(rsf, 1)?.bytes ?? Buffer.alloc(0)), 1));
    for (const ss of all(rsf, 2)) {
      for (const sp of all(fields(ss.bytes ?? Buffer.alloc(0)), 2)) {
        const s = fields(sp.bytes ?? Buffer.alloc(0));
        const status = fields(one(s, 15)?.bytes ?? Buffer.alloc(0));
        out.push({
          traceId: hex(one(s, 1)),
          spanId: hex(one(s, 2)),
          parentSpanId: hex(one(s, 4)),
          name: text(one(s, 5)),
          kind: Number(one(s, 6)?.varint ?? 0n),
          startNs: one(s, 7)?.fixed ?? 0n,
          endNs: one(s, 8)?.fixed ?? 0n,
          attributes: protoAttributes(all(s, 9)),
          links: all(s, 13).map((l) => {
            const lf = fields(l.bytes ?? Buffer.alloc(0));
            return {
              traceId: hex(one(lf, 1)),
              spanId: hex(one(lf, 2)),
              attributes: protoAttributes(all(lf, 4)),
            };
          }),
          status: { code: Number(one(status, 3)?.varint ?? 0n), message: text(one(status, 2)) },
          resource,
        });
      }
    }
  }
  return out;
}
