import type { Numbers } from "../scoring/protocol.js";

/**
 * Prediction responses written straight from the engine's typed array: the same text
 * JSON.stringify gives for the same numbers (shortest round-trip form, null for NaN and
 * infinities), without first building an array per response and a number object per value.
 */

/** JSON's media type, as Fastify sets it for objects it serialises. */
export const JSON_TYPE = "application/json; charset=utf-8";

/** `a,b,c` for outputs[start..end), each number as JSON.stringify writes it. */
function numbers(outputs: Numbers, start: number, end: number): string {
  let finite = true;
  for (let i = start; i < end; i++) {
    if (!Number.isFinite(outputs[i])) {
      finite = false;
      break;
    }
  }
  // TypedArray join writes each element with Number's toString, which JSON.stringify also uses.
  if (finite)
    return (start === 0 && end === outputs.length ? outputs : outputs.subarray(start, end)).join(",");
  let text = "";
  for (let i = start; i < end; i++) {
    const v = outputs[i];
    text += (i > start ? "," : "") + (Number.isFinite(v) ? String(v) : "null");
  }
  return text;
}

/** One row's value: a number, or an array of `width` numbers. */
function row(outputs: Numbers, r: number, width: number): string {
  return width === 1 ? numbers(outputs, r, r + 1) : `[${numbers(outputs, r * width, (r + 1) * width)}]`;
}

/**
 * POST /predict's answer: {"prediction": v} for a bare row, else {"predictions": [v, ...]};
 * v is a number, or an array per row when the model has several outputs.
 */
export function predictionsJson(outputs: Numbers, width: number, single: boolean): string {
  if (single) return `{"prediction":${row(outputs, 0, width)}}`;
  if (width === 1) return `{"predictions":[${numbers(outputs, 0, outputs.length)}]}`;
  const rows = outputs.length / width;
  let text = '{"predictions":[';
  for (let r = 0; r < rows; r++) text += (r > 0 ? "," : "") + row(outputs, r, width);
  return `${text}]}`;
}

/** OIP infer's answer: the "predict" output tensor, rows × width, FP32. */
export function inferJson(
  model: { name: string; version: string },
  id: string | undefined,
  outputs: Numbers,
  rows: number,
  width: number,
): string {
  const head = `{"model_name":${JSON.stringify(model.name)},"model_version":${JSON.stringify(model.version)}`;
  const shape = width === 1 ? `[${rows}]` : `[${rows},${width}]`;
  return `${head}${id === undefined ? "" : `,"id":${JSON.stringify(id)}`},"outputs":[{"name":"predict","datatype":"${outputs instanceof Float64Array ? "FP64" : "FP32"}","shape":${shape},"data":[${numbers(outputs, 0, outputs.length)}]}]}`;
}
