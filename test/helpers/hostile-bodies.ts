/**
 * Hostile JSON bodies for POST /predict, shared by test/app/hostile.test.ts (over real sockets) and
 * test/unit/fast-rows.test.ts (the fast row parser against the JSON.parse path).
 */
export const VALID_BODY = '{"instances": [[180, 80, 44], {"height": 150, "weight": 50}]}';

export function hostileJsonBodies(): [name: string, body: string][] {
  const cases: [string, string][] = [];
  for (const [i, body] of [
    "{",
    "}",
    "[",
    '{"instances": [1, 2,}',
    "nul",
    "{'height': 1}",
    '{"height": 1,}',
    '{"height": 1} trailing',
    '{"height": 01}',
    '{"height": .5}',
    '{"height": +1}',
    '{"height": 0x10}',
    '"just a string"',
    "42",
    "true",
    "null",
    "[]",
  ].entries()) {
    cases.push([`malformed #${i}: ${body.slice(0, 20)}`, body]);
  }
  for (const cut of [1, 5, 12, 20, 33, 47, VALID_BODY.length - 1])
    cases.push([`truncated at ${cut}`, VALID_BODY.slice(0, cut)]);
  cases.push(["deep arrays", `{"instances": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`]);
  cases.push(["deep objects", `${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}`]);
  cases.push(["deep instances row", `{"instances": [[[[[[1]]]]]]}`]);
  for (const n of ["1e400", "-1e400", "1e309"]) {
    cases.push([`too large ${n} positional`, `{"instances": [[${n}, 80, 44]]}`]);
    cases.push([`too large ${n} named`, `{"height": ${n}}`]);
  }
  for (const v of ['"180"', "true", "[180]", '{"v": 180}'])
    cases.push([`not a number: ${v}`, `{"instances": [[${v}, 80, 44]]}`]);
  cases.push(["__proto__ key in a row", '{"__proto__": {"polluted": true}, "height": 180}']);
  cases.push(["__proto__ key in instances", '{"instances": [{"__proto__": {"polluted": true}}]}']);
  cases.push(["constructor.prototype", '{"constructor": {"prototype": {"polluted": true}}}']);
  cases.push(["prototype key", '{"prototype": 1}']);
  for (const s of ["NaN", "Infinity", "-Infinity", "nan", "inf"])
    cases.push([`${s} spelling`, `{"instances": [[${s}, 80, 44]]}`]);
  return cases;
}
