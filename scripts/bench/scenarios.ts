/**
 * The requests a bench run sends: deterministic rows for the model being served, in each shape
 * the API accepts (one named row, arrays by position, objects by name, OIP tensors).
 */
import { featureNames, type Model } from "../../model/index.js";

export interface Scenario {
  id: string;
  title: string;
  path: string;
  /** JSON text, or a binary-data request's bytes (with `headers`). */
  body: string | Buffer;
  headers?: Record<string, string>;
  /** A gRPC scenario: ModelInfer with this request, `connections` calls in flight over `grpcConnections`. */
  grpc?: { request: object; grpcConnections: number };
  rowsPerRequest: number;
  connections: number;
  keepAlive: boolean;
  /** Requests each connection sends in turn instead of `body` to `path` (LoadSpec.requests). */
  requests?: readonly { path: string; body: string }[];
}

/** Deterministic pseudo-random feature values (1% missing), the same in every run. */
export function makeRows(numFeature: number, count: number, seed = 7): (number | null)[][] {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: numFeature }, () => (next() < 0.01 ? null : Math.round(next() * 20000) / 100)),
  );
}

function named(model: Model, row: (number | null)[]): Record<string, number | null> {
  const names = featureNames(model.info());
  return Object.fromEntries(row.map((v, i) => [names[i], v]));
}

/** forestd's scenarios; `connections` is the default for small requests. */
export function forestdScenarios(model: Model, modelName: string, connections: number): Scenario[] {
  const nf = model.numFeature;
  const hasNames = model.info().featureNames.length === nf;
  const one = makeRows(nf, 1)[0].map((v) => v ?? 0);
  const hundred = makeRows(nf, 100);
  const tenThousand = makeRows(nf, 10_000);
  const single = JSON.stringify(hasNames ? named(model, one) : { instances: [one] });
  const list: Scenario[] = [
    {
      id: "single-row",
      title: "1 row",
      path: "/predict",
      body: single,
      rowsPerRequest: 1,
      connections,
      keepAlive: true,
    },
    {
      id: "single-row-no-keepalive",
      title: "1 row, a new connection per request",
      path: "/predict",
      body: single,
      rowsPerRequest: 1,
      connections,
      keepAlive: false,
    },
    {
      id: "rows-100-position",
      title: "100 rows by position",
      path: "/predict",
      body: JSON.stringify({ instances: hundred }),
      rowsPerRequest: 100,
      connections,
      keepAlive: true,
    },
  ];
  if (hasNames) {
    list.push({
      id: "rows-100-name",
      title: "100 rows by name",
      path: "/predict",
      body: JSON.stringify({ instances: hundred.map((r) => named(model, r)) }),
      rowsPerRequest: 100,
      connections,
      keepAlive: true,
    });
  }
  list.push(
    {
      id: "oip-100",
      title: "OIP infer, 100 rows",
      path: `/v2/models/${modelName}/infer`,
      body: JSON.stringify({
        inputs: [
          { name: "input-0", datatype: "FP32", shape: [100, nf], data: hundred.flat().map((v) => v ?? 0) },
        ],
      }),
      rowsPerRequest: 100,
      connections,
      keepAlive: true,
    },
    {
      id: "rows-10000",
      title: "10 000 rows by position",
      path: "/predict",
      body: JSON.stringify({ instances: tenThousand }),
      rowsPerRequest: 10_000,
      connections: Math.min(connections, 4),
      keepAlive: true,
    },
  );
  return list;
}

/** Rows for the engine-alone baseline, as the engine takes them. */
export function engineRows(model: Model, count: number): Float32Array {
  return Float32Array.from(
    makeRows(model.numFeature, count)
      .flat()
      .map((v) => v ?? Number.NaN),
  );
}

/**
 * The many-models scenarios, against a server of a repository of `models`: one row a request, sent
 * to each model in turn on every connection, and the same requests to the first model only. Both
 * by /predict/{name}; their ratio is what serving many models costs against one (routing, batches
 * split by model, caches), since the fixture models are small.
 */
export function manyModelScenarios(
  models: readonly { name: string; rows: (number | string | null)[][] }[],
  connections: number,
): Scenario[] {
  const requests = models.map((m) => ({
    path: `/predict/${encodeURIComponent(m.name)}`,
    body: JSON.stringify({ instances: [m.rows[0]] }),
  }));
  const common = { rowsPerRequest: 1, connections, keepAlive: true };
  return [
    {
      id: "models-round-robin",
      title: `1 row, ${models.length} models in turn`,
      path: requests[0].path,
      body: requests[0].body,
      requests,
      ...common,
    },
    {
      id: "models-one",
      title: `1 row, one of the ${models.length} models`,
      path: requests[0].path,
      body: requests[0].body,
      ...common,
    },
  ];
}

/** Rows as the little-endian bytes of the model's row type (missing as NaN), and that type. */
function rowBytes(model: Model, rows: (number | null)[][]): { bytes: Buffer; datatype: "FP32" | "FP64" } {
  const flat = rows.flat().map((v) => v ?? Number.NaN);
  const typed = model.rowPrecision === "f64" ? Float64Array.from(flat) : Float32Array.from(flat);
  return {
    bytes: Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength),
    datatype: model.rowPrecision === "f64" ? "FP64" : "FP32",
  };
}

/**
 * The same OIP infer three ways, side by side, at 1 and 10 000 rows: JSON, the binary data
 * extension of REST (rows and answer as raw bytes), and gRPC with raw_input_contents (calls
 * `connections` in flight on one HTTP/2 connection, as ghz's default, and spread over one
 * connection per worker at 1 row).
 */
export function fastPathScenarios(
  model: Model,
  modelName: string,
  connections: number,
  grpc: boolean,
  workers: number,
): Scenario[] {
  const nf = model.numFeature;
  const path = `/v2/models/${modelName}/infer`;
  const list: Scenario[] = [];
  for (const [count, label] of [
    [1, "1 row"],
    [10_000, "10 000 rows"],
  ] as const) {
    const rows = makeRows(nf, count);
    const { bytes, datatype } = rowBytes(model, rows);
    const conns = count === 1 ? connections : Math.min(connections, 4);
    const shape = [count, nf];
    list.push({
      id: `oip-json-${count}`,
      title: `OIP JSON, ${label}`,
      path,
      body: JSON.stringify({ inputs: [{ name: "input-0", datatype, shape, data: rows.flat() }] }),
      rowsPerRequest: count,
      connections: conns,
      keepAlive: true,
    });
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: "input-0", datatype, shape, parameters: { binary_data_size: bytes.length } }],
        parameters: { binary_data_output: true },
      }),
    );
    list.push({
      id: `oip-binary-${count}`,
      title: `OIP binary REST, ${label}`,
      path,
      body: Buffer.concat([header, bytes]),
      headers: {
        "content-type": "application/octet-stream",
        "inference-header-content-length": String(header.length),
      },
      rowsPerRequest: count,
      connections: conns,
      keepAlive: true,
    });
    if (!grpc) continue;
    const request = {
      model_name: modelName,
      inputs: [{ name: "input-0", datatype, shape: shape.map(String) }],
      raw_input_contents: [bytes],
    };
    list.push({
      id: `grpc-${count}`,
      title: `gRPC raw, ${label}, 1 connection`,
      path,
      body: "",
      rowsPerRequest: count,
      connections: conns,
      keepAlive: true,
      grpc: { request, grpcConnections: 1 },
    });
    if (count === 1 && workers > 1)
      list.push({
        id: `grpc-${count}-conns`,
        title: `gRPC raw, ${label}, ${workers} connections`,
        path,
        body: "",
        rowsPerRequest: count,
        connections: conns,
        keepAlive: true,
        grpc: { request, grpcConnections: workers },
      });
  }
  return list;
}
