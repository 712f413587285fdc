/**
 * Every format's fixtures through one parity harness (test/helpers/parity-harness.ts): each model
 * loaded with loadModel (the compiled engine, as the server scores) and every output its head
 * offers held to the library's own recorded answers, bit for bit or within the ulp bound the
 * adapter states and explains. A new format is one adapter (test/helpers/parity-<format>.ts) and
 * one line here.
 */
import t from "tap";
import type { ParityAdapter } from "../helpers/parity-harness.js";
import { runParity } from "../helpers/parity-harness.js";
import { lightgbmParity } from "../helpers/parity-lightgbm.js";
import { onnxParity } from "../helpers/parity-onnx.js";
import { onnxGraphParity } from "../helpers/parity-onnx-graph.js";
import { sklearnParity } from "../helpers/parity-sklearn.js";
import { xgboostParity } from "../helpers/parity-xgboost.js";

const ADAPTERS: Record<string, ParityAdapter> = {
  xgboost: xgboostParity,
  onnx: onnxParity,
  "onnx graphs": onnxGraphParity,
  sklearn: sklearnParity,
  lightgbm: lightgbmParity,
};

for (const [name, adapter] of Object.entries(ADAPTERS)) runParity(t, name, adapter);
