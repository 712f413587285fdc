/**
 * What is LightGBM's own about its fixtures' rows: the pandas fixture's rows by name carry its
 * categories as strings, and forestd turns them into pandas' category codes, the numbers LightGBM
 * was given. Scoring every fixture (raw scores, predictions, leaf indices, classes, the reader's
 * Forest and the reference evaluator, rows by name) against LightGBM's outputs is the parity
 * harness's job: test/unit/format-parity.test.ts with test/helpers/parity-lightgbm.ts.
 */
import t from "tap";
import { loadModel, rowsToArray } from "../../model/index.js";
import { lightgbmFixtures } from "../helpers/lightgbm-fixtures.js";

const all = lightgbmFixtures();
t.ok(all.length >= 34, `found ${all.length} LightGBM fixtures`);

const named = all.filter(({ expected }) => expected.rows_by_name);
t.ok(named.length >= 1, "a fixture gives its rows by name");

for (const fixture of named) {
  t.test(`${fixture.name}: rows by name`, async (t) => {
    const { expected } = fixture;
    const model = loadModel(fixture.bytes());
    const values = rowsToArray(model, expected.rows_by_name!);
    t.same(
      [...values].map((v) => (Number.isNaN(v) ? null : v)),
      expected.rows.flat(),
      "strings become pandas' codes",
    );
  });
}
