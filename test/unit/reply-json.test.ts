/** Prediction responses written from Float32Arrays: the very text JSON.stringify gives. */
import fc from "fast-check";
import t from "tap";
import { outputsToJson } from "../../model/index.js";
import { inferJson, predictionsJson } from "../../workers/http/reply-json.js";

t.test("predictionsJson is JSON.stringify of the same outputs", async (t) => {
  const value = fc.oneof(
    fc.float(),
    fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e-45, 3.4028234663852886e38, 0.5),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.array(value, { minLength: 1, maxLength: 40 }),
      fc.boolean(),
      (width, vs, single) => {
        const rows = Math.max(1, Math.floor(vs.length / width));
        const outputs = Float32Array.from({ length: rows * width }, (_, i) => vs[i % vs.length]);
        const json = outputsToJson(outputs, width);
        const expected = JSON.stringify(single ? { prediction: json[0] } : { predictions: json });
        const got = predictionsJson(single ? outputs.subarray(0, width) : outputs, width, single);
        return got === expected;
      },
    ),
    { numRuns: 5000, seed: 20261124 },
  );
  t.equal(predictionsJson(Float32Array.from([0.25, Number.NaN]), 1, false), '{"predictions":[0.25,null]}');
});

t.test("inferJson is JSON.stringify of the OIP answer it replaces", async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3 }),
      fc.array(fc.float(), { minLength: 1, maxLength: 12 }),
      fc.option(fc.string({ maxLength: 6 })),
      (width, vs, id) => {
        const rows = Math.max(1, Math.floor(vs.length / width));
        const outputs = Float32Array.from({ length: rows * width }, (_, i) => vs[i % vs.length]);
        const expected = JSON.stringify({
          model_name: 'm"1',
          model_version: "abc",
          ...(id !== null ? { id } : {}),
          outputs: [
            {
              name: "predict",
              datatype: "FP32",
              shape: width === 1 ? [rows] : [rows, width],
              data: Array.from(outputs),
            },
          ],
        });
        return inferJson({ name: 'm"1', version: "abc" }, id ?? undefined, outputs, rows, width) === expected;
      },
    ),
    { numRuns: 2000, seed: 20261124 },
  );
  t.pass("2000 answers");
});
