/**
 * model/heads/glibc-exp.ts: glibc's exp, bit for bit, on 4 000 inputs recorded from glibc 2.36
 * itself (scripts/make_lightgbm_fixtures.py, through Python's math.exp), and the emulated fused
 * multiply-add it is built on, against an exact BigInt computation of a * b + c rounded once.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import t from "tap";
import { fma, glibcExp } from "../../model/heads/glibc-exp.js";
import { LIGHTGBM_FIXTURES } from "../helpers/lightgbm-fixtures.js";

const view = new DataView(new ArrayBuffer(8));
function fromHex(hex: string): number {
  for (let i = 0; i < 8; i++) view.setUint8(i, Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  return view.getFloat64(0, true);
}

t.test("glibcExp equals glibc's exp on every recorded input", async (t) => {
  const { pairs } = JSON.parse(
    gunzipSync(readFileSync(join(LIGHTGBM_FIXTURES, "glibc_exp.json.gz"))).toString("utf8"),
  ) as { pairs: [string, string][] };
  t.ok(pairs.length >= 4000, `${pairs.length} recorded inputs`);
  const wrong: [number, number, number][] = [];
  let v8 = 0;
  for (const [xHex, yHex] of pairs) {
    const x = fromHex(xHex);
    const y = fromHex(yHex);
    if (!Object.is(glibcExp(x), y)) wrong.push([x, glibcExp(x), y]);
    if (!Object.is(Math.exp(x), y)) v8++;
  }
  t.same(wrong.slice(0, 5), [], `all bit-identical (${wrong.length} differ)`);
  // What the port is for: V8's own exp rounds differently on a fair share of these inputs.
  t.ok(v8 > pairs.length / 50, `Math.exp differs from glibc on ${v8} of ${pairs.length}`);
});

/** x as m * 2^e exactly. */
function decompose(x: number): [bigint, number] {
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exponent = Number((bits >> 52n) & 0x7ffn);
  let m = bits & ((1n << 52n) - 1n);
  if (exponent !== 0) m |= 1n << 52n;
  return [bits >> 63n ? -m : m, exponent === 0 ? -1074 : exponent - 1075];
}

/** m * 2^e rounded once to the nearest double, ties to even. */
function roundToDouble(m: bigint, e: number): number {
  if (m === 0n) return 0;
  const negative = m < 0n;
  let q = negative ? -m : m;
  let shift = q.toString(2).length - 53;
  if (e + shift < -1074) shift = -1074 - e;
  if (shift > 0) {
    const s = BigInt(shift);
    const rest = q & ((1n << s) - 1n);
    q >>= s;
    const half = 1n << (s - 1n);
    if (rest > half || (rest === half && (q & 1n) === 1n)) q += 1n;
    e += shift;
  }
  const v = Number(q) * 2 ** e;
  return negative ? -v : v;
}

function exactFma(a: number, b: number, c: number): number {
  const [ma, ea] = decompose(a);
  const [mb, eb] = decompose(b);
  const [mc, ec] = decompose(c);
  const ep = ea + eb;
  const e = Math.min(ep, ec);
  const sum = ((ma * mb) << BigInt(ep - e)) + (mc << BigInt(ec - e));
  return sum === 0n ? a * b + c : roundToDouble(sum, e);
}

t.test("fma rounds a * b + c once, as the hardware instruction does", async (t) => {
  let seed = 7;
  const uniform = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const anyDouble = () => (uniform() - 0.5) * 2 ** Math.floor(uniform() * 60 - 30);
  const cases: [number, number, number][] = [];
  for (let i = 0; i < 20_000; i++) {
    const a = anyDouble();
    const b = anyDouble();
    const kind = i % 4;
    // 0: anything; 1: c cancels most of a * b; 2: a * b + c just above halfway between two
    // doubles, where rounding a * b first lands exactly halfway and ties to even the wrong way
    // (a * b = 2^(k-53) (1 + 2^-54 + 2^-80), c = 2^k); 3: exp's own first multiply-add.
    if (kind === 0) cases.push([a, b, anyDouble()]);
    else if (kind === 1) cases.push([a, b, -(a * b) * (1 + (uniform() - 0.5) * 2 ** -40)]);
    else if (kind === 2) {
      const k = Math.floor(uniform() * 200) - 100;
      const sign = uniform() < 0.5 ? -1 : 1;
      const j = Math.floor(uniform() * 8) - 4; // moves a power of two between a and b
      cases.push([
        sign * (1 + 2 ** -27) * 2 ** j,
        sign * (1 - 2 ** -27 + 2 ** -53) * 2 ** (k - 53 - j),
        2 ** k,
      ]);
    } else cases.push([(uniform() - 0.5) * 1400, 184.6649652337873, 6755399441055744]);
  }
  const wrong = cases.filter(([a, b, c]) => !Object.is(fma(a, b, c), exactFma(a, b, c)));
  t.same(wrong.slice(0, 5), [], `${cases.length} fused multiply-adds exact (${wrong.length} not)`);
  const unfusedDiffers = cases.filter(([a, b, c]) => !Object.is(a * b + c, exactFma(a, b, c))).length;
  t.ok(unfusedDiffers > 100, `a * b + c (two roundings) differs on ${unfusedDiffers} of them`);
});
