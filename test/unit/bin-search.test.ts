/**
 * The SIMD kernel's bucket tables (model/kernels/bin-search.ts) against the plain count of cuts
 * passed, on cut lists made to be awkward: clustered, spread over many orders of magnitude,
 * -Infinity, a NaN cut (passed by nothing), one cut, none; probed on every cut, one float step
 * either side, ±0, ±Infinity and random values, in float32 and float64.
 */
import fc from "fast-check";
import t from "tap";
import { binBySearch, binOf, binSearchFor } from "../../model/kernels/bin-search.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** One representable step from x (float32 or float64), up or down. */
function step(x: number, input: "f32" | "f64", up: boolean): number {
  if (!Number.isFinite(x)) return x;
  if (x === 0) return (up ? 1 : -1) * (input === "f32" ? 1.401298464324817e-45 : 5e-324);
  if (input === "f32") {
    f32[0] = x;
    u32[0] += x > 0 === up ? 1 : -1;
    return f32[0];
  }
  f64[0] = x;
  u64[0] += x > 0 === up ? 1n : -1n;
  return f64[0];
}

const value = fc.oneof(
  fc.double({ min: -4, max: 4, noNaN: true }),
  fc.double({ noNaN: true }),
  fc.double({ min: -1e-30, max: 1e-30, noNaN: true }),
  fc.constantFrom(0, 1, -1, 2.5, 1e30, -1e30, 3.4e38),
);

for (const input of ["f32", "f64"] as const) {
  t.test(`${input}: the table's bin is the count of cuts passed`, async (t) => {
    const round = input === "f32" ? Math.fround : (x: number) => x;
    fc.assert(
      fc.property(
        fc.array(value, { maxLength: 300 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(value, { maxLength: 40 }),
        (raw, minusInfinity, never, probes) => {
          const distinct = [...new Set(raw.map((x) => round(x) + 0))].filter((x) => Number.isFinite(x));
          if (minusInfinity) distinct.push(Number.NEGATIVE_INFINITY);
          const cuts = Float64Array.from(distinct).sort();
          const all = never ? Float64Array.from([...cuts, Number.NaN]) : cuts;
          const search = binSearchFor(all, input);
          const xs = [...probes.map(round), 0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
          for (const c of cuts) xs.push(c, step(c, input, true), step(c, input, false));
          for (const x of xs) {
            const want = binOf(all, x);
            const got = binBySearch(search, all, x, input);
            if (got !== want)
              throw new Error(`x = ${x}: table says ${got}, count ${want} (${all.length} cuts)`);
          }
        },
      ),
      { numRuns: 300, seed: input === "f32" ? 32 : 64 },
    );
    t.pass("300 random cut lists, every probe exact");
  });
}

t.test("bench-like cuts need one halving", async (t) => {
  // 255 quantiles of a standard normal, as XGBoost's hist method cuts a feature.
  const cuts = new Float64Array(255);
  for (let i = 0; i < 255; i++) {
    const p = (i + 1) / 256;
    // Acklam-free inverse normal by bisection on the error function's series.
    let lo = -6;
    let hi = 6;
    for (let k = 0; k < 60; k++) {
      const mid = (lo + hi) / 2;
      const cdf = 0.5 * (1 + Math.tanh(0.7978845608 * (mid + 0.044715 * mid ** 3)));
      if (cdf < p) lo = mid;
      else hi = mid;
    }
    cuts[i] = Math.fround(lo);
  }
  const search = binSearchFor(cuts, "f32");
  t.ok(search.steps <= 1, `${search.steps} halving(s) after a ${search.buckets}-entry table`);
});
