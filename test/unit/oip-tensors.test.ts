/**
 * OIP input tensors → rows (workers/http/tensors.ts): every datatype read exactly (integers rounded
 * once to the row precision, INT64/UINT64 beyond 2^53 from their own digits, FP16 and FP32 values as
 * the halves and floats they are), one tensor per column by name in any order, BYTES for string
 * columns, an ONNX graph's inputs by name ([N, width] each, in a datatype of the input's type),
 * MLServer's content types, and a clear 400 for everything else.
 */
import { join } from "node:path";
import t from "tap";
import { columnLookup, loadModel, rowsToArray } from "../../model/index.js";
import {
  bigintToFloat32,
  exactInteger,
  parseExactJson,
  readInputs,
  roundToFloat16,
} from "../../workers/http/tensors.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { graphFixtures, rowByName } from "../helpers/onnx-graph-fixtures.js";
import { colorSizeModel } from "../helpers/small-forest.js";

const model = loadModel(join(FIXTURES, "binary_logistic.json"));
const columns = columnLookup(model);
const nf = model.numFeature;
type Input = Parameters<typeof readInputs>[2][number];
const read = (inputs: Input[], contentType?: string, m = model) =>
  readInputs(m, columnLookup(m), inputs, 1000, contentType);

t.test("integers beyond 2^53 are rounded once, from the integer itself", async (t) => {
  // 2^54 + 2^30 + 1: float64 rounds it to 2^54 + 2^30, a float32 midpoint that then rounds down to
  // 2^54 (ties to even); the integer itself is above the midpoint: float32 2^54 + 2^31 (as numpy's
  // np.float32(np.int64(x)), C's int64 → float).
  const x = 2n ** 54n + 2n ** 30n + 1n;
  t.equal(bigintToFloat32(x), 2 ** 54 + 2 ** 31, "single rounding");
  t.equal(Math.fround(Number(x)), 2 ** 54, "what double rounding would have given");
  t.equal(bigintToFloat32(-x), -(2 ** 54 + 2 ** 31), "negative alike");
  t.equal(bigintToFloat32(2n ** 24n + 1n), 2 ** 24, "a tie goes to even");
  t.equal(bigintToFloat32(2n ** 24n + 3n), 2 ** 24 + 4, "and the other way");
  for (const v of [0n, 1n, -7n, 16_777_215n, 2n ** 63n - 1n, 2n ** 64n - 1n])
    t.equal(bigintToFloat32(v), Math.fround(Number(v)), `${v}: no double rounding happens`);

  const body = parseExactJson(
    `{"inputs":[{"name":"x","datatype":"INT64","shape":[1,${nf}],"data":[${x},9007199254740993,-9223372036854775808,1,2,3]}]}`,
  ) as { inputs: Input[] };
  t.equal(typeof body.inputs[0].data[0], "bigint", "digits beyond 2^53 kept as BigInt");
  t.equal(body.inputs[0].data[3], 1, "small ones stay numbers");
  const { values } = read(body.inputs);
  t.equal(values[0], 2 ** 54 + 2 ** 31);
  t.equal(values[1], 2 ** 53, "2^53+1 as float32 (its nearest: 2^53)");
  t.equal(values[2], -(2 ** 63));
});

t.test("float64 rows get the integer's nearest double", async (t) => {
  const m = colorSizeModel("f64");
  t.equal(m.rowPrecision, "f64");
  const { values } = read(
    [{ name: "size", datatype: "UINT64", shape: [2], data: [18446744073709551615n, 9007199254740993n] }],
    undefined,
    m,
  );
  t.equal(values[1], 2 ** 64, "UINT64's largest");
  t.equal(values[3], 9007199254740992, "2^53+1 → the nearest double (ties to even)");
});

t.test("exactInteger reads the integer any JSON spelling means, and nothing else", async (t) => {
  t.equal(exactInteger("12"), 12n);
  t.equal(exactInteger("-3e20"), -300000000000000000000n);
  t.equal(exactInteger("4.0E2"), 400n);
  t.equal(exactInteger("1.25e2"), 125n);
  t.equal(exactInteger("1.5"), null);
  t.equal(exactInteger("1e-3"), null);
  t.equal(exactInteger("1e400"), null, "beyond any integer datatype: left to the range check");
});

t.test("parseExactJson refuses what Fastify's parser refuses", async (t) => {
  t.throws(() => parseExactJson('{"__proto__": {"x": 1}}'), /forbidden prototype/);
  t.throws(() => parseExactJson('{"constructor": {"prototype": {}}}'), /forbidden prototype/);
  t.throws(() => parseExactJson('{"a": '), SyntaxError);
});

t.test("every integer datatype: in range, integer, else a 400 naming input and index", async (t) => {
  const ranges: [string, number, number][] = [
    ["UINT8", 0, 255],
    ["UINT16", 0, 65535],
    ["UINT32", 0, 4294967295],
    ["INT8", -128, 127],
    ["INT16", -32768, 32767],
    ["INT32", -2147483648, 2147483647],
  ];
  for (const [datatype, lo, hi] of ranges) {
    const ok = read([{ name: "x", datatype, shape: [2, nf], data: [lo, hi, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0] }]);
    t.equal(ok.values[0], Math.fround(lo), `${datatype} ${lo}`);
    t.equal(ok.values[1], Math.fround(hi), `${datatype} ${hi}`);
    t.throws(() => read([{ name: "x", datatype, shape: [1, nf], data: [hi + 1, 0, 0, 0, 0, 0] }]), {
      code: "FORESTD_ERR_INVALID_INPUT",
      message: new RegExp(`inputs\\[0\\] \\("x"\\) data\\[0\\]: ${hi + 1} is out of ${datatype}'s range`),
    });
    t.throws(() => read([{ name: "x", datatype, shape: [1, nf], data: [0.5, 0, 0, 0, 0, 0] }]), {
      message: new RegExp(`expected an integer \\(${datatype}\\) or null, got 0.5`),
    });
  }
  t.throws(() => read([{ name: "x", datatype: "UINT64", shape: [1, nf], data: [-1, 0, 0, 0, 0, 0] }]), {
    message: /-1 is out of UINT64's range/,
  });
  t.throws(() => read([{ name: "x", datatype: "INT64", shape: [1, nf], data: [2n ** 63n, 0, 0, 0, 0, 0] }]), {
    message: /9223372036854775808 is out of INT64's range/,
  });
});

t.test("FP16, FP32, FP64 and BOOL", async (t) => {
  // 0.1 is no half: the nearest float16 is 0.0999755859375; 65519 rounds to 65504, 65520 overflows.
  t.equal(roundToFloat16(0.1), 0.0999755859375);
  t.equal(roundToFloat16(65519), 65504);
  t.equal(roundToFloat16(65520), Number.POSITIVE_INFINITY);
  t.equal(roundToFloat16(2 ** -25), 0, "half the smallest subnormal: ties to even (0)");
  t.equal(roundToFloat16(3 * 2 ** -25), 2 ** -23, "one and a half: up to the even one");
  t.equal(roundToFloat16(-1.00048828125), -1, "a tie between 1 and 1+2^-10: even");
  const f16 = (globalThis as { Float16Array?: new (a: number[]) => ArrayLike<number> }).Float16Array;
  if (f16) {
    // Where the platform has float16 (Node 24), the hand-written rounding agrees with it everywhere tried.
    const samples: number[] = [];
    for (let i = 0; i < 20000; i++) samples.push((Math.sin(i * 12.9898) * 43758.5453) % 70000);
    for (let i = 0; i < 2000; i++) samples.push(Math.sin(i) * 2 ** -14, Math.cos(i) * 2 ** -20);
    const reference = new f16(samples);
    t.ok(
      samples.every((x, i) => Object.is(roundToFloat16(x), reference[i])),
      `${samples.length} values as Float16Array rounds them`,
    );
  }
  const rows = read([{ name: "x", datatype: "FP16", shape: [1, nf], data: [0.1, 1, 2, 3, 4, 65519] }]).values;
  t.equal(rows[0], Math.fround(0.0999755859375));
  t.equal(rows[5], 65504);
  t.throws(() => read([{ name: "x", datatype: "FP16", shape: [1, nf], data: [1e5, 0, 0, 0, 0, 0] }]), {
    message: /100000 is out of FP16's range/,
  });
  const f64 = colorSizeModel("f64");
  const fp32 = read([{ name: "size", datatype: "FP32", shape: [1], data: [0.1] }], undefined, f64).values;
  t.equal(fp32[1], Math.fround(0.1), "an FP32 value is a float32, also for a float64 model");
  const fp64 = read([{ name: "size", datatype: "FP64", shape: [1], data: [0.1] }], undefined, f64).values;
  t.equal(fp64[1], 0.1);
  const bools = read([
    { name: "x", datatype: "BOOL", shape: [1, nf], data: [true, false, null, true, true, false] },
  ]);
  t.same(Array.from(bools.values).slice(0, 3), [1, 0, Number.NaN]);
  t.throws(() => read([{ name: "x", datatype: "BOOL", shape: [1, nf], data: [1, 0, 0, 0, 0, 0] }]), {
    message: /expected true, false or null, got number/,
  });
});

t.test("one tensor per column: by name, any order, [N] or [N, 1]; absent columns missing", async (t) => {
  const names = [...columns.keys()];
  const data = [
    [1.5, -2],
    [3, 0.25],
    [7, -1],
    [0.5, 2],
    [9, 9],
    [-4, 1],
  ];
  const matrix = read([
    { name: "x", datatype: "FP32", shape: [2, nf], data: [0, 1].map((r) => data.map((c) => c[r])) },
  ]).values;
  const reversed = names
    .map((name, i) => ({
      name,
      datatype: "FP64",
      shape: i % 2 ? [2] : [2, 1],
      data: i % 2 ? data[i] : data[i].map((v) => [v]),
    }))
    .reverse();
  t.same(read(reversed).values, matrix, "the same rows as one [N, F] tensor");
  t.same(read(reversed, "pd").values, matrix, 'and with content_type "pd"');
  const some = read([
    { name: names[2], datatype: "INT64", shape: [1], data: [7] },
    { name: names[0], datatype: "FP32", shape: [1], data: [1.5] },
  ]).values;
  t.same(Array.from(some), [1.5, Number.NaN, 7, Number.NaN, Number.NaN, Number.NaN], "others missing");
  t.throws(
    () =>
      read([
        { name: names[0], datatype: "FP32", shape: [1], data: [1] },
        { name: "nope", datatype: "FP32", shape: [1], data: [1] },
      ]),
    { message: /inputs\[1\] \("nope"\) is not one of the model's inputs/ },
  );
  t.throws(
    () =>
      read([
        { name: names[0], datatype: "FP32", shape: [2], data: [1, 2] },
        { name: names[1], datatype: "FP32", shape: [3], data: [1, 2, 3] },
      ]),
    { message: /inputs\[1\] \("[^"]+"\) has 3 rows; the inputs before it have 2/ },
  );
  t.throws(
    () =>
      read([
        { name: names[0], datatype: "FP32", shape: [2], data: [1, 2] },
        { name: names[0], datatype: "FP32", shape: [2], data: [1, 2] },
      ]),
    { message: /named twice/ },
  );
  t.throws(() => read([{ name: names[0], datatype: "FP32", shape: [2, 2], data: [1, 2, 3, 4] }], "pd"), {
    message: /a column is \[N\] or \[N, 1\]/,
  });
  t.throws(
    () =>
      read([
        { name: names[0], datatype: "FP32", shape: [3], data: [1, 2] },
        { name: names[1], datatype: "FP32", shape: [3], data: [1, 2, 3] },
      ]),
    {
      message: /has 2 values; shape \[3\] needs 3/,
    },
  );
  t.throws(
    () =>
      read(
        [
          { name: "a", datatype: "FP32", shape: [1, nf], data: [0, 0, 0, 0, 0, 0] },
          { name: "b", datatype: "FP32", shape: [1, nf], data: [0, 0, 0, 0, 0, 0] },
        ],
        "np",
      ),
    { message: /content_type "np" is one tensor/ },
  );
  t.throws(() => read([{ name: "x", datatype: "FP32", shape: [1, 4], data: [1, 2, 3, 4] }]), {
    message: /input "x" has shape \[1, 4\]; the model takes \[N, 6\]/,
  });
});

t.test("BYTES: a string column's categories; a number column refuses strings", async (t) => {
  const m = colorSizeModel();
  const scores = (inputs: Input[], contentType?: string) => {
    const { values, rows } = read(inputs, contentType, m);
    return Array.from(m.predictBatch(values, rows));
  };
  t.same(
    scores(
      [
        { name: "color", datatype: "BYTES", shape: [4, 1], data: ["green", "red", "purple", null] },
        { name: "size", datatype: "INT64", shape: [4, 1], data: [[1], [3], [3], [1]] },
      ],
      "pd",
    ),
    [1, 10, 10, 0],
    "green → 1; an unknown string or null is missing (the default way: left)",
  );
  t.same(
    scores([
      {
        name: "x",
        datatype: "BYTES",
        shape: [2, 2],
        data: [
          ["green", 3],
          ["blue", 1],
        ],
      },
    ]),
    [11, 0],
    "one tensor of rows, strings and numbers mixed",
  );
  t.throws(() => read([{ name: "size", datatype: "BYTES", shape: [1], data: ["3"] }], "pd", m), {
    message: /a string \(BYTES\) for a column that takes numbers/,
  });
});

t.test("an ONNX graph's inputs as tensors by name: the same rows /predict reads by name", async (t) => {
  const several = graphFixtures().filter((f) => f.expected.inputs.length > 1);
  t.ok(several.length >= 3, `${several.length} fixtures with several graph inputs`);
  const DATATYPE = { float: "FP32", double: "FP64", int64: "INT64", string: "BYTES" } as const;
  for (const f of several) {
    const m = loadModel(f.path);
    t.same(
      m.inputTensors,
      f.expected.inputs.map((i) => ({ name: i.name, type: i.type, width: i.width })),
      `${f.name}: the model's input tensors are the graph's inputs`,
    );
    const rows = f.expected.rows as Record<string, unknown>[];
    const tensors: Input[] = f.expected.inputs.map((input) => ({
      name: input.name,
      datatype: DATATYPE[input.type],
      shape: [rows.length, input.width],
      data: rows.flatMap((r) => r[input.name] as never),
    }));
    const byName = rowsToArray(m, f.expected.rows.map(rowByName));
    const { values, rows: n } = read(tensors, undefined, m);
    t.equal(n, rows.length);
    t.same(Array.from(values), Array.from(byName), `${f.name}: every value as /predict reads the rows`);
    // Columns by their own names still work beside a graph input by name.
    const wide = f.expected.inputs.find((i) => i.width > 1);
    if (wide) {
      const split = tensors.flatMap((x) => {
        if (x.name !== wide.name) return [x];
        return Array.from({ length: wide.width }, (_, j) => ({
          name: `${wide.name}[${j}]`,
          datatype: x.datatype,
          shape: [rows.length],
          data: rows.map((r) => (r[wide.name] as unknown[])[j]),
        })) as Input[];
      });
      t.same(
        Array.from(read(split, undefined, m).values),
        Array.from(byName),
        `${f.name}: ${wide.name}'s columns by name`,
      );
      t.throws(() => read([...tensors, split.find((x) => x.name === `${wide.name}[1]`)!], undefined, m), {
        message: new RegExp(
          `"${wide.name.replace(/[[\]]/g, "\\$&")}\\[1\\]"\\) fills column \\d+ .*which an input before it fills too`,
        ),
      });
      t.throws(
        () =>
          read(
            tensors.map((x) => (x.name === wide.name ? { ...x, data: [[1]] } : x)),
            undefined,
            m,
          ),
        { message: new RegExp(`data\\[0\\]: a row of this input holds ${wide.width} values`) },
      );
    }
  }
  const ordinal = loadModel(several.find((f) => f.name === "coltrans_ordinal_int64")!.path);
  const one = (input: Input) =>
    read(
      [
        input,
        { name: "labels", datatype: "BYTES", shape: [1, 2], data: ["S", "round"] },
        { name: "weight", datatype: "FP32", shape: [1, 1], data: [1.5] },
      ].filter((x, i, all) => all.findIndex((y) => y.name === x.name) === i),
      undefined,
      ordinal,
    );
  t.throws(() => one({ name: "count", datatype: "FP64", shape: [1, 1], data: [2.5] }), {
    message:
      /inputs\[0\] \("count"\): an int64 graph input takes an integer datatype \(INT64, INT32, \.\.\.\), not FP64/,
  });
  t.throws(() => one({ name: "labels", datatype: "FP32", shape: [1, 2], data: [0, 1] }), {
    message: /"labels"\): a string graph input takes BYTES, not FP32/,
  });
  t.throws(() => one({ name: "weight", datatype: "BYTES", shape: [1, 1], data: ["x"] }), {
    message: /"weight"\): a float graph input takes numbers, not BYTES/,
  });
  t.throws(() => one({ name: "labels", datatype: "BYTES", shape: [1], data: ["S"] }), {
    message: /"labels"\) has shape \[1\]; the graph input is \[N, 2\]/,
  });
  t.throws(() => one({ name: "nope", datatype: "FP32", shape: [1], data: [1] }), {
    message:
      /"nope"\) is not one of the model's inputs \(labels, count, weight\); send one tensor per graph input by name \(labels \[N, 2\], count \[N, 1\], weight \[N, 1\]\)/,
  });
  t.equal(one({ name: "count", datatype: "INT64", shape: [1, 1], data: [7] }).values[2], 7, "INT64 count");
});
