/**
 * XGBoost's bound on a category value: 2^24, the largest integer a float32 holds exactly. A model
 * naming a larger category is refused (read-document.ts); a row's value at or past it, or negative,
 * is "not in the set" when scored (score.ts), as in XGBoost.
 */
export const MAX_CATEGORY = 2 ** 24;
