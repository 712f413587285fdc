/**
 * The fast row parser (workers/fast-rows.ts) against the JSON.parse path it shortcuts: for every
 * body, the rows it gives (bit for bit, float32) or the error code it leads to are the same as
 * Fastify's JSON parser + the /predict route's shape checks + model/rows.ts give. 100 000 bodies
 * on the default model in all (FAST_ROWS_RUNS to change), in two files that run in parallel (this
 * one and test/unit/fast-rows-more.test.ts, half each from its own seed), and a tenth as many on a
 * multi-class model. Bodies and oracles: helpers/fast-rows-cases.ts.
 */
import t from "tap";
import { columnLookup, defaultModelPath, loadModel } from "../../model/index.js";
import { ParsedRows, parsePredictBody, rowsLayout } from "../../workers/http/fast-rows.js";
import { bits, checkPredictBodies, MAX_ROWS } from "../helpers/fast-rows-cases.js";

const RUNS = Number(process.env.FAST_ROWS_RUNS ?? 100_000);

checkPredictBodies(t, "default", Math.ceil(RUNS / 2), 20261124);
checkPredictBodies(t, "multi_softprob.ubj", Math.ceil(RUNS / 10), 20261124);

t.test("rows come out as float32 of JSON.parse's float64, -0 and subnormals included", async (t) => {
  const model = loadModel(defaultModelPath());
  const layout = rowsLayout(model.numFeature, columnLookup(model), MAX_ROWS);
  const parsed = parsePredictBody(
    Buffer.from(
      '{"instances": [[-0, 1e-46, 7.006492321624087e-46], {"shoe_size": 3.4028235677973366e38, "height": null}]}',
    ),
    layout,
  ) as ParsedRows;
  t.ok(parsed instanceof ParsedRows);
  t.same(
    bits(parsed.values),
    bits(
      Float32Array.from([-0, 1e-46, 7.006492321624087e-46, Number.NaN, Number.NaN, 3.4028235677973366e38]),
    ),
  );
  t.equal(1 / parsed.values[0], Number.NEGATIVE_INFINITY, "-0 stays -0");
  t.equal(parsed.values[2], 2 ** -149, "rounds up to the smallest subnormal");
  t.ok(
    Number.isNaN(parsePredictBody(Buffer.from('{"height": 1, "height": null}'), layout)?.values[0]),
    "last one wins",
  );
  t.equal(parsePredictBody(Buffer.from('{"instances": [[1,2,3]], "instances": [[4,5,6]]}'), layout), null);
  t.equal(
    parsePredictBody(Buffer.from(`{"instances": [${"[1,2,3],".repeat(MAX_ROWS)}[1,2,3]]}`), layout),
    null,
  );
});

t.test(
  "names beyond ASCII: matched byte for byte where expected, otherwise left to the usual path",
  async (t) => {
    const layout = rowsLayout(
      2,
      new Map([
        ["größe", 0],
        ["b", 1],
      ]),
      MAX_ROWS,
    );
    const inOrder = parsePredictBody(Buffer.from('{"größe": 1.5, "b": 2}'), layout) as ParsedRows;
    t.ok(inOrder instanceof ParsedRows, "in order: the fast path");
    t.same(Array.from(inOrder.values), [1.5, 2]);
    t.equal(parsePredictBody(Buffer.from('{"b": 2, "größe": 1.5}'), layout), null, "out of order: declined");
    t.equal(
      parsePredictBody(Buffer.from('{"b": 2, "gr\\u00f6\\u00dfe": 1.5}'), layout),
      null,
      "escaped: declined",
    );
    const lone = rowsLayout(1, new Map([["\ud800", 0]]), MAX_ROWS);
    t.equal(lone.quoted[0], null, "a name with a lone surrogate has no UTF-8 spelling to match");
    t.equal(
      parsePredictBody(Buffer.from('{"\ud800": 1}'), lone),
      null,
      "its replacement character is declined",
    );
  },
);
