/**
 * The header's `objective=` line → which ConvertOutput LightGBM applies, with its parameters, as
 * ObjectiveFunction::CreateObjectiveFunction(const std::string&) reads it
 * (src/objective/objective_function.cpp): ParseObjectiveAlias on the whole line
 * (include/LightGBM/config.h), split on spaces, the first word names the objective and the rest
 * are `name:value` parameters (sigmoid, num_class) or the bare word `sqrt`.
 */
import { invalidModel as invalid, unsupportedModel as unsupported } from "../../errors.js";
import type { LightGbmObjective } from "../../heads/lightgbm.js";
import { lightgbmAtof, parseInteger, tokens } from "./numbers.js";

const NAMES: readonly LightGbmObjective[] = [
  "binary",
  "multiclass",
  "multiclassova",
  "cross_entropy",
  "cross_entropy_lambda",
  "regression",
  "regression_l1",
  "huber",
  "fair",
  "quantile",
  "mape",
  "poisson",
  "gamma",
  "tweedie",
  "lambdarank",
  "rank_xendcg",
  "custom",
];

/** ParseObjectiveAlias: it maps the whole line, so an alias counts only when it is the whole line. */
const ALIASES: Readonly<Record<string, LightGbmObjective>> = {
  regression_l2: "regression",
  mean_squared_error: "regression",
  mse: "regression",
  l2: "regression",
  l2_root: "regression",
  root_mean_squared_error: "regression",
  rmse: "regression",
  mean_absolute_error: "regression_l1",
  l1: "regression_l1",
  mae: "regression_l1",
  softmax: "multiclass",
  multiclass_ova: "multiclassova",
  ova: "multiclassova",
  ovr: "multiclassova",
  xentropy: "cross_entropy",
  xentlambda: "cross_entropy_lambda",
  mean_absolute_percentage_error: "mape",
  xendcg: "rank_xendcg",
  xe_ndcg: "rank_xendcg",
  xe_ndcg_mart: "rank_xendcg",
  xendcg_mart: "rank_xendcg",
  none: "custom",
  null: "custom",
  na: "custom",
};

export interface Objective {
  readonly objective: LightGbmObjective;
  readonly sigmoid: number;
  readonly sqrt: boolean;
  /** num_class from the objective's parameters (multiclass, multiclassova), else null. */
  readonly numClass: number | null;
}

/** Reads the objective line; null (no line) is a custom objective, whose outputs are raw. */
export function readObjective(text: string | null): Objective {
  if (text === null) return { objective: "custom", sigmoid: 1, sqrt: false, numClass: null };
  const line = ALIASES[text] ?? text;
  const words = tokens(line);
  const name = words[0] ?? "";
  if (!(NAMES as readonly string[]).includes(name))
    unsupported(
      `objective ${JSON.stringify(name.slice(0, 40))} (header line objective=${JSON.stringify(text.slice(0, 60))}) is not one LightGBM predicts with; forestd knows ${NAMES.join(", ")}`,
    );
  const objective = name as LightGbmObjective;
  let sigmoid = -1;
  let numClass = -1;
  let sqrt = false;
  for (const word of words.slice(1)) {
    if (word === "sqrt") sqrt = true;
    const parts = word.split(":");
    if (parts.length !== 2) continue;
    if (parts[0] === "sigmoid") sigmoid = lightgbmAtof(parts[1]);
    else if (parts[0] === "num_class") {
      const k = parseInteger(parts[1], 1, 1 << 16);
      if (k === undefined)
        invalid(`objective parameter num_class:${parts[1].slice(0, 20)} is not a class count`);
      numClass = k;
    }
  }
  // The checks LightGBM's constructors make (Log::Fatal there).
  if ((objective === "binary" || objective === "multiclassova") && !(sigmoid > 0))
    invalid(`objective ${objective} needs sigmoid > 0; the line says ${JSON.stringify(text.slice(0, 60))}`);
  if ((objective === "multiclass" || objective === "multiclassova") && numClass < 0)
    invalid(`objective ${objective} needs num_class; the line says ${JSON.stringify(text.slice(0, 60))}`);
  if (!Number.isFinite(sigmoid)) invalid(`objective ${objective}: sigmoid is ${sigmoid}`);
  return {
    objective,
    sigmoid: sigmoid > 0 ? sigmoid : 1,
    // RegressionHuberLoss turns sqrt off in its constructor; the exp links and the rest ignore it.
    sqrt: sqrt && objective !== "huber",
    numClass: numClass > 0 ? numClass : null,
  };
}
