/**
 * JSON as XGBoost writes it: standard JSON plus the bare tokens `NaN`, `Infinity` and `-Infinity`
 * (XGBoost's writer emits `NaN` as the split condition of categorical nodes).
 *
 * `JSON.parse` rejects those tokens, so they are rewritten outside strings first: `NaN` to `null`
 * (read back as NaN where a number is expected) and `Infinity` to `1e999`, which JSON.parse itself
 * turns into Infinity. Text without those tokens goes straight to JSON.parse, the fast path.
 */
import { ModelError } from "../../errors.js";

const STRING_OR_NONFINITE = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;

export function parseXGBoostJson(text: string): unknown {
  const prepared =
    text.includes("NaN") || text.includes("Infinity")
      ? text.replace(STRING_OR_NONFINITE, (token) => {
          if (token.charCodeAt(0) === 34 /* " */) return token;
          if (token === "NaN") return "null";
          return token.startsWith("-") ? "-1e999" : "1e999";
        })
      : text;
  try {
    return JSON.parse(prepared);
  } catch (error) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_SYNTAX",
      `model file is not valid JSON: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
