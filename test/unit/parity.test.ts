/**
 * The XGBoost fixtures themselves: enough of them, and every model XGBoost trained written in both
 * of its forms (.json and .ubj). Scoring them against XGBoost's outputs is the parity harness's
 * job (test/unit/format-parity.test.ts with test/helpers/parity-xgboost.ts).
 */
import t from "tap";
import { fixtures } from "../helpers/fixtures.js";

const all = fixtures();

t.ok(all.length >= 40, `found ${all.length} fixtures`);

for (const { name, expected, files } of all) {
  // Synthetic fixtures are edited copies of a real one (JSON, and UBJSON where it was rewritten too).
  if (expected.synthetic)
    t.ok(files.length > 0, `${name}: synthetic, has a model file (${expected.synthetic.notes})`);
  else t.equal(files.length, 2, `${name}: XGBoost wrote it as .json and .ubj`);
}
