/** The engine benches' rows. */

/** Deterministic standard-normal rows (the distribution the bench models were trained on). */
export function makeRows(numFeature: number, rows: number): Float32Array {
  let seed = 12345;
  const uniform = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return (seed + 0.5) / 2 ** 32;
  };
  const out = new Float32Array(numFeature * rows);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}
