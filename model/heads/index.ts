/**
 * The head a forest names, built by its family's factory. A new family is one module here and one
 * line below.
 */
import { ModelError } from "../errors.js";
import type { Forest } from "../forest/forest.js";
import type { Head, HeadFactory } from "./head.js";
import { lightgbmHead } from "./lightgbm.js";
import { onnxHead } from "./onnx.js";
import { sklearnHead } from "./sklearn.js";
import { xgboostHead } from "./xgboost.js";

const FAMILIES: Readonly<Record<string, HeadFactory>> = {
  xgboost: xgboostHead,
  onnx: onnxHead,
  sklearn: sklearnHead,
  lightgbm: lightgbmHead,
};

export function headFor(forest: Forest): Head {
  const family = forest.head.family;
  const factory = Object.hasOwn(FAMILIES, family) ? FAMILIES[family] : undefined;
  if (!factory)
    throw new ModelError("FORESTD_ERR_MODEL_UNSUPPORTED", `no head for the output family "${family}"`);
  const head = factory(forest, forest.head);
  return head;
}
