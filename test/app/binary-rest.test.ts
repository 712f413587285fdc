/**
 * The binary data extension of OIP REST (Triton's and KServe's): inputs sent as raw little-endian
 * bytes after an `Inference-Header-Content-Length` JSON header, outputs answered as bytes when
 * asked. Parity: on fixture models of every format, a binary request gets the same bits as the
 * same rows sent as JSON, for every output the model's metadata lists; integer datatypes are read
 * exactly (INT64 past 2^53 too); every malformed framing is a 400 (413 past BODY_LIMIT); and a
 * fuzzed body (bytes flipped, cut, lengthened, the header length changed) is never a 500.
 */
import fc from "fast-check";
import type { LightMyRequestResponse } from "fastify";
import t from "tap";
import { loadModel, featureNames as modelFeatureNames } from "../../model/index.js";
import { modelSpec, testApp } from "../helpers/app.js";
import {
  binaryRequest,
  bits,
  decodeBinaryAnswer,
  floatBytes,
  parityModels,
} from "../helpers/binary-tensors.js";

const MODELS = parityModels(1, 12);
const HEADER = "inference-header-content-length";

type App = Awaited<ReturnType<typeof testApp>>["app"];

function binaryPost(
  app: App,
  url: string,
  header: Parameters<typeof binaryRequest>[0],
  contentType = "application/octet-stream",
) {
  const { body, headerLength } = binaryRequest(header);
  return app.inject({
    method: "POST",
    url,
    payload: body,
    headers: { "content-type": contentType, [HEADER]: String(headerLength) },
  });
}

/** A JSON answer's outputs with null (NaN, or a missing value) as NaN, to compare with bytes. */
function jsonOutputs(r: LightMyRequestResponse) {
  return (r.json().outputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[]).map(
    (o) => ({ ...o, data: o.data.flat(3).map((v) => (v === null ? Number.NaN : v)) as (number | string)[] }),
  );
}

function binaryOutputs(r: LightMyRequestResponse) {
  return decodeBinaryAnswer(r.rawPayload, Number(r.headers[HEADER])).outputs.map((o) => ({
    ...o,
    // INT64 labels come back as bigints; JSON has them as numbers.
    data: o.data.map((v) => (typeof v === "bigint" ? Number(v) : v)),
  }));
}

t.test("binary REST answers the same bits as JSON, every format, every output", async (t) => {
  const { app, close } = await testApp([], {}, { models: MODELS.map((m) => modelSpec(m.path, m.name)) });
  t.teardown(close);
  let compared = 0;
  for (const m of MODELS) {
    const meta = (await app.inject(`/v2/models/${m.name}`)).json() as {
      inputs: { name: string; datatype: string; shape: number[] }[];
      outputs: { name: string }[];
    };
    const nf = m.rows[0].length;
    const url = `/v2/models/${m.name}/infer`;
    // Interactions are (F+1)² a row: a few rows are enough to compare them.
    const outputs = meta.outputs.map((o) => ({ name: o.name }));
    for (const datatype of ["FP32", "FP64"] as const) {
      const input = { name: "input-0", shape: [m.rows.length, nf], datatype };
      const json = await app.inject({
        method: "POST",
        url,
        payload: { id: "j", inputs: [{ ...input, data: m.rows }], outputs },
      });
      t.equal(json.statusCode, 200, `${m.name} ${datatype} JSON: ${json.body.slice(0, 200)}`);
      const bin = await binaryPost(app, url, {
        id: "b",
        inputs: [{ ...input, bytes: floatBytes(m.rows, datatype) }],
        outputs,
        parameters: { binary_data_output: true },
      });
      t.equal(bin.statusCode, 200, `${m.name} ${datatype} binary: ${bin.statusCode === 200 ? "" : bin.body}`);
      if (json.statusCode !== 200 || bin.statusCode !== 200) continue;
      t.equal(bin.headers["content-type"], "application/octet-stream");
      const expected = jsonOutputs(json);
      const got = binaryOutputs(bin);
      t.same(
        got.map((o) => [o.name, o.datatype, o.shape]),
        expected.map((o) => [o.name, o.datatype, o.shape]),
        `${m.name} ${datatype}: the same tensors`,
      );
      for (const [i, o] of got.entries()) {
        t.same(bits(o.data), bits(expected[i].data), `${m.name} ${datatype} ${o.name}: the same bits`);
        compared++;
      }
      // Binary in, JSON out (no binary_data_output): the JSON answer itself.
      const mixed = await binaryPost(app, url, {
        id: "j",
        inputs: [{ ...input, bytes: floatBytes(m.rows, datatype) }],
        outputs,
      });
      t.equal(mixed.headers["content-type"], json.headers["content-type"]);
      t.equal(mixed.body, json.body, `${m.name} ${datatype}: binary in, JSON out, the same text`);
    }
  }
  t.ok(compared >= MODELS.length * 2, `${compared} output tensors compared on ${MODELS.length} models`);
});

t.test("integer datatypes, columns, one output as bytes, JSON's media type", async (t) => {
  const m = MODELS.find((x) => x.name === "xgb-binary_logistic-json");
  if (!m) throw new Error("fixture binary_logistic missing");
  const { app, close } = await testApp([], {}, { models: [modelSpec(m.path, "m")] });
  t.teardown(close);
  const nf = m.rows[0].length;
  const url = "/v2/models/m/infer";
  // Integers past 2^53 and 2^24: each is rounded once, from the integer itself, on both paths.
  const ints = [
    [2 ** 53 + 1, -(2 ** 62) - 1, 16_777_217, 3, -7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].slice(0, nf),
  ];
  const text = `{"inputs":[{"name":"x","shape":[1,${nf}],"datatype":"INT64","data":[${["9007199254740993", "-4611686018427387905", ...ints[0].slice(2).map(String)].slice(0, nf).join(",")}]}],"outputs":[{"name":"margin"}]}`;
  const json = await app.inject({
    method: "POST",
    url,
    payload: text,
    headers: { "content-type": "application/json" },
  });
  t.equal(json.statusCode, 200, json.body);
  const i64 = Buffer.alloc(8 * nf);
  [9007199254740993n, -4611686018427387905n, ...ints[0].slice(2).map(BigInt)].slice(0, nf).forEach((v, i) => {
    i64.writeBigInt64LE(v, 8 * i);
  });
  const bin = await binaryPost(app, url, {
    inputs: [{ name: "x", shape: [1, nf], datatype: "INT64", bytes: i64 }],
    outputs: [{ name: "margin", parameters: { binary_data: true } }],
  });
  t.equal(bin.statusCode, 200, bin.body);
  t.same(bits(binaryOutputs(bin)[0].data), bits(jsonOutputs(json)[0].data), "INT64: the same margin bits");

  // Each fixed-size integer type, and BOOL, against the same values as JSON.
  const small = [
    [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1].slice(0, nf),
    [0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0].slice(0, nf),
  ];
  const writers: Record<string, [number, (b: Buffer, v: number, at: number) => void]> = {
    UINT8: [1, (b, v, at) => b.writeUInt8(v, at)],
    INT8: [1, (b, v, at) => b.writeInt8(-v, at)],
    UINT16: [2, (b, v, at) => b.writeUInt16LE(v * 300, at)],
    INT16: [2, (b, v, at) => b.writeInt16LE(-v * 300, at)],
    UINT32: [4, (b, v, at) => b.writeUInt32LE(v * 4_000_000_000, at)],
    INT32: [4, (b, v, at) => b.writeInt32LE(-v * 2_000_000_001, at)],
    BOOL: [1, (b, v, at) => b.writeUInt8(v, at)],
  };
  const values: Record<string, (v: number) => number | boolean> = {
    UINT8: (v) => v,
    INT8: (v) => -v,
    UINT16: (v) => v * 300,
    INT16: (v) => -v * 300,
    UINT32: (v) => v * 4_000_000_000,
    INT32: (v) => -v * 2_000_000_001,
    BOOL: (v) => v === 1,
  };
  for (const [datatype, [size, write]] of Object.entries(writers)) {
    const bytes = Buffer.alloc(size * 2 * nf);
    small.flat().forEach((v, i) => {
      write(bytes, v, i * size);
    });
    const shape = [2, nf];
    const j = await app.inject({
      method: "POST",
      url,
      payload: {
        inputs: [{ name: "x", shape, datatype, data: small.map((r) => r.map(values[datatype])) }],
        outputs: [{ name: "margin" }],
      },
    });
    const b = await binaryPost(app, url, {
      inputs: [{ name: "x", shape, datatype, bytes }],
      outputs: [{ name: "margin" }],
      parameters: { binary_data_output: true },
    });
    t.equal(b.statusCode, 200, `${datatype}: ${b.statusCode === 200 ? "" : b.body}`);
    t.same(
      bits(binaryOutputs(b)[0].data),
      bits(jsonOutputs(j)[0].data),
      `${datatype}: the same bits as JSON`,
    );
  }

  // One tensor per column, by name, raw FP64, mixed with a JSON column: as the JSON columns.
  const featureNames = modelFeatureNames(loadModel(m.path));
  const colJson = await app.inject({
    method: "POST",
    url,
    payload: {
      parameters: { content_type: "pd" },
      inputs: featureNames.map((name, k) => ({
        name,
        shape: [2],
        datatype: "FP64",
        data: [m.rows[0][k], m.rows[1][k]],
      })),
    },
  });
  const colBin = await binaryPost(app, url, {
    parameters: { content_type: "pd", binary_data_output: true },
    inputs: featureNames.map((name, k) =>
      k % 2 === 0
        ? { name, shape: [2], datatype: "FP64", bytes: floatBytes([[m.rows[0][k]], [m.rows[1][k]]], "FP64") }
        : ({ name, shape: [2], datatype: "FP64", data: [m.rows[0][k], m.rows[1][k]] } as never),
    ),
  });
  t.equal(colJson.statusCode, 200, colJson.body);
  t.equal(colBin.statusCode, 200, colBin.body);
  t.same(
    bits(binaryOutputs(colBin)[0].data),
    bits(jsonOutputs(colJson)[0].data),
    "columns by name: the same bits",
  );

  // Triton's clients may label a binary body application/json: the header decides.
  const asJson = await binaryPost(
    app,
    url,
    {
      inputs: [
        { name: "x", shape: [2, nf], datatype: "FP32", bytes: floatBytes(m.rows.slice(0, 2), "FP32") },
      ],
    },
    "application/json",
  );
  t.equal(asJson.statusCode, 200, asJson.body);
  t.equal(asJson.json().outputs[0].name, "predict");
});

t.test("malformed binary requests: a clear 400 (413 past BODY_LIMIT), the server unharmed", async (t) => {
  const m = MODELS.find((x) => x.name === "xgb-binary_logistic-json");
  if (!m) throw new Error("fixture binary_logistic missing");
  const { app, close } = await testApp(["--body-limit", "65536"], {}, { models: [modelSpec(m.path, "m")] });
  t.teardown(close);
  const nf = m.rows[0].length;
  const url = "/v2/models/m/infer";
  const good = floatBytes(m.rows.slice(0, 2), "FP32");
  const send = (body: Buffer, headerLength: string | undefined, contentType = "application/octet-stream") =>
    app.inject({
      method: "POST",
      url,
      payload: body,
      headers: {
        "content-type": contentType,
        ...(headerLength === undefined ? {} : { [HEADER]: headerLength }),
      },
    });
  const framed = (inputs: Record<string, unknown>[], tail: Buffer) => {
    const head = Buffer.from(JSON.stringify({ inputs }));
    return { body: Buffer.concat([head, tail]), length: String(head.length) };
  };
  const cases: [string, { body: Buffer; length: string | undefined }, number, RegExp][] = [
    [
      "byte length disagrees with shape × datatype",
      framed(
        [{ name: "x", shape: [3, nf], datatype: "FP32", parameters: { binary_data_size: good.length } }],
        good,
      ),
      400,
      /has \d+ bytes; shape \[3, \d+\] of FP32 is \d+/,
    ],
    [
      "header length past the body",
      { body: Buffer.from('{"inputs":[]}'), length: "5000" },
      400,
      /past the end of the 13-byte body/,
    ],
    ["no header length", { body: good, length: undefined }, 400, /needs one inference-header-content-length/],
    ["header length not a number", { body: good, length: "12abc" }, 400, /inference-header-content-length/],
    ["header not JSON", { body: Buffer.from("{nope"), length: "5" }, 400, /inference header/],
    [
      "binary_data_size past the body",
      framed(
        [{ name: "x", shape: [2, nf], datatype: "FP32", parameters: { binary_data_size: good.length + 4 } }],
        good,
      ),
      400,
      /runs past the body/,
    ],
    [
      "bytes left after the tensors",
      framed(
        [{ name: "x", shape: [2, nf], datatype: "FP32", parameters: { binary_data_size: good.length } }],
        Buffer.concat([good, Buffer.alloc(4)]),
      ),
      400,
      /4 bytes after the header/,
    ],
    [
      "negative shape",
      framed(
        [{ name: "x", shape: [-2, nf], datatype: "FP32", parameters: { binary_data_size: good.length } }],
        good,
      ),
      400,
      /shape/,
    ],
    [
      "overflowing shape",
      framed(
        [
          {
            name: "x",
            shape: [2 ** 40, 2 ** 40],
            datatype: "FP32",
            parameters: { binary_data_size: good.length },
          },
        ],
        good,
      ),
      400,
      /more than 2147483647 elements|shape/,
    ],
    [
      "unknown datatype",
      framed(
        [{ name: "x", shape: [2, nf], datatype: "FP128", parameters: { binary_data_size: good.length } }],
        good,
      ),
      400,
      /datatype/,
    ],
    [
      "a negative binary_data_size",
      framed([{ name: "x", shape: [2, nf], datatype: "FP32", parameters: { binary_data_size: -1 } }], good),
      400,
      /binary_data_size must be an integer/,
    ],
    [
      "data and binary_data_size both",
      framed(
        [
          {
            name: "x",
            shape: [2, nf],
            datatype: "FP32",
            data: [],
            parameters: { binary_data_size: good.length },
          },
        ],
        good,
      ),
      400,
      /both data and parameters.binary_data_size/,
    ],
    [
      "an infinity",
      framed(
        [{ name: "x", shape: [1, nf], datatype: "FP32", parameters: { binary_data_size: 4 * nf } }],
        floatBytes([Array(nf).fill(Number.POSITIVE_INFINITY)], "FP32"),
      ),
      400,
      /Infinity is out of range/,
    ],
    [
      "a BOOL byte of 2",
      framed(
        [{ name: "x", shape: [1, nf], datatype: "BOOL", parameters: { binary_data_size: nf } }],
        Buffer.alloc(nf, 2),
      ),
      400,
      /a BOOL byte is 0 or 1/,
    ],
    [
      "a BYTES element cut short",
      framed(
        [{ name: "x", shape: [1, 1], datatype: "BYTES", parameters: { binary_data_size: 6 } }],
        Buffer.from([9, 0, 0, 0, 65, 66]),
      ),
      400,
      /runs past the tensor's 6 bytes/,
    ],
    [
      "a shape claiming rows the bytes do not hold",
      framed(
        [{ name: "x", shape: [200_000, nf], datatype: "FP32", parameters: { binary_data_size: 0 } }],
        Buffer.alloc(0),
      ),
      400,
      /has 0 bytes/,
    ],
    [
      "a body past BODY_LIMIT",
      framed([{ name: "x", shape: [1, 1], datatype: "FP32" }], Buffer.alloc(70_000)),
      413,
      /larger than 65536 bytes/,
    ],
  ];
  for (const [what, { body, length }, status, message] of cases) {
    const r = await send(body, length);
    t.equal(r.statusCode, status, `${what}: ${status}`);
    t.match(r.json().error ?? r.json().message, message, `${what}: says why (${r.body.slice(0, 160)})`);
  }
  // And the server still answers a good one.
  const ok = await send(
    ...((): [Buffer, string] => {
      const f = framed(
        [{ name: "x", shape: [2, nf], datatype: "FP32", parameters: { binary_data_size: good.length } }],
        good,
      );
      return [f.body, f.length];
    })(),
  );
  t.equal(ok.statusCode, 200, ok.body);
});

t.test(
  "fuzz: a binary body flipped, cut, lengthened or with a changed header length is 200 or a 4xx, never a 500",
  async (t) => {
    const m = MODELS.find((x) => x.name === "xgb-binary_logistic-json");
    if (!m) throw new Error("fixture binary_logistic missing");
    const { app, close } = await testApp([], {}, { models: [modelSpec(m.path, "m")] });
    t.teardown(close);
    const nf = m.rows[0].length;
    const valid = binaryRequest({
      inputs: [
        { name: "x", shape: [2, nf], datatype: "FP32", bytes: floatBytes(m.rows.slice(0, 2), "FP32") },
      ],
      parameters: { binary_data_output: true },
    });
    const mutation = fc.oneof(
      // A byte flipped anywhere (the header's JSON, its lengths, the tensors).
      fc.tuple(fc.nat({ max: valid.body.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
        const b = Buffer.from(valid.body);
        b[at] ^= x;
        return { body: b, headerLength: String(valid.headerLength) };
      }),
      // Cut short, or with bytes added at the end.
      fc
        .nat({ max: valid.body.length })
        .map((n) => ({ body: valid.body.subarray(0, n), headerLength: String(valid.headerLength) })),
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((extra) => ({
        body: Buffer.concat([valid.body, extra]),
        headerLength: String(valid.headerLength),
      })),
      // The header length changed (or not a number).
      fc
        .oneof(fc.integer({ min: -5, max: valid.body.length + 10 }).map(String), fc.string({ maxLength: 8 }))
        .map((h) => ({
          body: valid.body,
          headerLength: h,
        })),
    );
    const unchanged = await app.inject({
      method: "POST",
      url: "/v2/models/m/infer",
      payload: valid.body,
      headers: { "content-type": "application/octet-stream", [HEADER]: String(valid.headerLength) },
    });
    t.equal(unchanged.statusCode, 200, "the body before mutation is answered");
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(mutation, async ({ body, headerLength }) => {
        const r = await app.inject({
          method: "POST",
          url: "/v2/models/m/infer",
          payload: body,
          headers: { "content-type": "application/octet-stream", [HEADER]: headerLength },
        });
        statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        if (r.statusCode === 200) return true;
        return r.statusCode >= 400 && r.statusCode < 500 && typeof r.json().code === "string";
      }),
      { numRuns: 300, seed: 32 },
    );
    t.ok(
      (statuses.get(400) ?? 0) > 0 && (statuses.get(200) ?? 0) > 0,
      `both answered and refused: ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
  },
);

t.test(
  "large bodies (read into shared memory, the tensor aligned): the same bits at every header length",
  async (t) => {
    const m = MODELS[0];
    const { app, close } = await testApp([], {}, { models: [modelSpec(m.path, m.name)] });
    t.teardown(close);
    const nf = m.rows[0].length;
    // Past SHARED_BODY_BYTES (32 KiB) in FP32, and cut into tasks of MAX_BATCH_ROWS (4096) rows.
    const rows = Array.from({ length: Math.ceil(5000 / m.rows.length) }, () => m.rows).flat();
    t.ok(rows.length * nf * 4 > 32 * 1024 && rows.length > 4096, `${rows.length} rows of ${nf} features`);
    const url = `/v2/models/${m.name}/infer`;
    const input = { name: "input-0", shape: [rows.length, nf], datatype: "FP32" as const };
    const json = await app.inject({ method: "POST", url, payload: { inputs: [{ ...input, data: rows }] } });
    t.equal(json.statusCode, 200);
    const expected = bits(jsonOutputs(json)[0].data);
    for (const datatype of ["FP32", "FP64"] as const) {
      // The id moves the tensor's offset in the body through every residue modulo 8.
      for (let k = 0; k < 8; k++) {
        const bin = await binaryPost(app, url, {
          id: "x".repeat(k),
          inputs: [{ ...input, datatype, bytes: floatBytes(rows, datatype) }],
          parameters: { binary_data_output: true },
        });
        t.equal(bin.statusCode, 200, `${datatype}, id of ${k}: ${bin.statusCode === 200 ? "" : bin.body}`);
        if (bin.statusCode === 200)
          t.same(bits(binaryOutputs(bin)[0].data), expected, `${datatype}, id of ${k}: the same bits`);
      }
    }
  },
);

t.test("an infinity is refused at the first one, either sign, either float type", async (t) => {
  const m = MODELS[0];
  const { app, close } = await testApp([], {}, { models: [modelSpec(m.path, m.name)] });
  t.teardown(close);
  const nf = m.rows[0].length;
  const rows = Array.from({ length: 3 }, (_, r) => Array.from({ length: nf }, (_, i) => r + i / 10));
  rows[1][0] = Number.NEGATIVE_INFINITY;
  rows[2][nf - 1] = Number.POSITIVE_INFINITY;
  for (const datatype of ["FP32", "FP64"] as const) {
    const r = await binaryPost(app, `/v2/models/${m.name}/infer`, {
      inputs: [{ name: "x", shape: [3, nf], datatype, bytes: floatBytes(rows, datatype) }],
    });
    t.equal(r.statusCode, 400, datatype);
    t.match(
      r.json().error,
      `element ${nf}: -Infinity is out of range`,
      `${datatype}: the first, by its index`,
    );
  }
});
