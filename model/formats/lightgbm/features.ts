/**
 * A LightGBM model's features: their names (`feature_names`), what training saw of each
 * (`feature_infos`: "[min:max]" for a numerical feature, the categories "c1:c2:..." for a
 * categorical one, "none" for one with a single value), which are categorical, and the Python
 * package's `pandas_categorical` trailer, which makes the pandas category columns' strings rows'
 * inputs.
 *
 * pandas_categorical (basic.py, _data_from_pandas) lists, for each column of a DataFrame whose
 * dtype is `category`, in column order, its categories; LightGBM is given each value's position in
 * that list (cat.codes), and NaN for a value not in it. The file does not say which features those
 * columns are; they are the categorical features in order when the counts agree (the usual case:
 * categorical_feature="auto" makes exactly the unordered category columns categorical). When they
 * do not (an ordered category column, which LightGBM treats as numerical codes, or
 * categorical_feature naming other columns too), no strings are accepted and /model says why.
 */
import {
  invalidModel as invalid,
  ModelError,
  modelSyntaxError as syntax,
  modelTooLarge as tooLarge,
} from "../../errors.js";
import { LIMITS } from "../../forest/check.js";
import type { FeatureKind, ForestFeature, InputColumn } from "../../forest/forest.js";
import { tokens } from "./numbers.js";

/** A category list in feature_infos: integers separated by colons (LightGBM writes -1 for NaN's bin). */
const CATEGORY_INFO = /^-?\d+(?::-?\d+)*$/;
const RANGE_INFO = /^\[[^\]:]*:[^\]:]*\]$/;

export interface FeatureTable {
  readonly features: ForestFeature[];
  /** Columns with pandas vocabularies, or null when the rows are the features as they are. */
  readonly inputs: InputColumn[] | null;
  /** What /model reports about the pandas trailer (or null without one). */
  readonly pandas: {
    readonly columns: number;
    readonly mapped: boolean;
    readonly note: string | null;
  } | null;
}

export interface FeatureSources {
  readonly numFeatures: number;
  readonly names: string;
  readonly infos: string;
  /** Per feature: 1 when some split treats it as categorical. */
  readonly splitCategorical: Uint8Array;
  /** The parameters' categorical_feature indices, or null when absent or not indices. */
  readonly categoricalParameter: readonly number[] | null;
  readonly pandasCategorical: string | null;
}

export function readFeatures(src: FeatureSources): FeatureTable {
  const n = src.numFeatures;
  const names = tokens(src.names);
  if (names.length !== n)
    invalid(`feature_names holds ${names.length} names, but max_feature_idx=${n - 1} makes ${n} features`);
  const infos = tokens(src.infos);
  if (infos.length !== n)
    invalid(`feature_infos holds ${infos.length} entries, but max_feature_idx=${n - 1} makes ${n} features`);
  const kinds: FeatureKind[] = infos.map((info, i) => {
    if (info !== "none" && !CATEGORY_INFO.test(info) && !RANGE_INFO.test(info))
      syntax(
        `feature_infos[${i}] is ${JSON.stringify(info.slice(0, 40))}, not [min:max], a category list or none`,
      );
    return src.splitCategorical[i] || CATEGORY_INFO.test(info) ? "categorical" : "numeric";
  });
  const categorical = src.categoricalParameter?.filter((i) => i < n) ?? [];
  for (const i of categorical) kinds[i] = "categorical";
  const features = names.map((name, i) => ({ name, kind: kinds[i], formatType: null }));

  if (src.pandasCategorical === null) return { features, inputs: null, pandas: null };
  const lists = readPandasCategorical(src.pandasCategorical);
  if (lists === null) return { features, inputs: null, pandas: null };
  const catFeatures = kinds.flatMap((k, i) => (k === "categorical" ? [i] : []));
  const mismatch =
    lists.length !== catFeatures.length
      ? `pandas_categorical lists ${lists.length} category columns but the model has ${catFeatures.length} categorical features, so which column is which is unknown: rows give category codes, not strings`
      : null;
  if (mismatch !== null || lists.length === 0)
    return { features, inputs: null, pandas: { columns: lists.length, mapped: false, note: mismatch } };
  const vocabulary = new Map(catFeatures.map((f, k) => [f, lists[k]]));
  const inputs = features.map((f, i) => ({
    name: f.name,
    kind: f.kind,
    vocabulary: vocabulary.get(i) ?? null,
  }));
  return { features, inputs, pandas: { columns: lists.length, mapped: true, note: null } };
}

/**
 * The trailer's JSON: null, or one list of categories per column. Each category becomes the string
 * a JSON row gives for it: a string itself, a number or boolean as JSON writes it ("10", "true").
 */
function readPandasCategorical(text: string): string[][] | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ModelError(
      "FORESTD_ERR_MODEL_SYNTAX",
      `pandas_categorical is not JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (value === null) return null;
  if (!Array.isArray(value)) invalid("pandas_categorical is not a list of category lists");
  let total = 0;
  return value.map((list: unknown, c) => {
    if (!Array.isArray(list)) invalid(`pandas_categorical[${c}] is not a list of categories`);
    total += list.length;
    if (total > LIMITS.maxSetValues)
      tooLarge(`pandas_categorical holds more than ${LIMITS.maxSetValues} categories`);
    const seen = new Set<string>();
    return list.map((v: unknown, k) => {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")
        invalid(`pandas_categorical[${c}][${k}] is not a string, number or boolean`);
      const s = typeof v === "string" ? v : JSON.stringify(v);
      if (seen.has(s))
        invalid(`pandas_categorical[${c}] names category ${JSON.stringify(s.slice(0, 40))} twice`);
      seen.add(s);
      return s;
    });
  });
}
