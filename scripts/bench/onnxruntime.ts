/**
 * onnxruntime-node on the same rows, as the ONNX peer of the engine bench: one intra-op thread
 * (as forestd's engine bench is one thread), graph optimisations on, the default CPU provider.
 * A devDependency: absent in a production install, where this returns null.
 */
import type { InferenceSession } from "onnxruntime-node";

type Ort = typeof import("onnxruntime-node");

async function loadOrt(): Promise<Ort | null> {
  try {
    return await import("onnxruntime-node");
  } catch {
    return null;
  }
}

/** rows/s and µs per call of onnxruntime at each batch size, or null without onnxruntime-node. */
export async function timeOnnxruntime(
  model: Uint8Array,
  rows: Float32Array,
  numFeature: number,
  batches: readonly number[],
  seconds: number,
): Promise<{ version: string; results: { batch: number; rowsPerSec: number; usPerCall: number }[] } | null> {
  const ort = await loadOrt();
  if (!ort) return null;
  const session: InferenceSession = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
  const input = session.inputNames[0];
  // Probabilities / values only: ZipMap outputs cannot cross into JavaScript, and a server would
  // not ask for labels it can derive.
  const fetches = session.outputNames.filter((n) => !n.includes("label"));
  const count = rows.length / numFeature;
  const results: { batch: number; rowsPerSec: number; usPerCall: number }[] = [];
  for (const batch of batches) {
    const slices: Float32Array[] = [];
    for (let at = 0; at + batch <= count; at += batch)
      slices.push(rows.slice(at * numFeature, (at + batch) * numFeature));
    const feed = (i: number) => ({
      [input]: new ort.Tensor("float32", slices[i % slices.length], [batch, numFeature]),
    });
    for (let i = 0; i < Math.min(slices.length, 50); i++) await session.run(feed(i), fetches);
    let calls = 0;
    const start = process.hrtime.bigint();
    const budget = BigInt(Math.round(seconds * 1e9));
    let elapsed = 0n;
    while (elapsed < budget) {
      for (let k = 0; k < 8; k++) await session.run(feed(calls++), fetches);
      elapsed = process.hrtime.bigint() - start;
    }
    const secs = Number(elapsed) / 1e9;
    results.push({ batch, rowsPerSec: (calls * batch) / secs, usPerCall: (secs / calls) * 1e6 });
  }
  await session.release();
  return { version: ort.env.versions.common, results };
}
