/**
 * The flavor's pyfunc answer per row, for `{"predictions": [...]}` (`predictions_to_json`: numpy's
 * tolist() through json.dumps): a Booster's predictions (a number per row, or a list per row when
 * it has several outputs), XGBoost's scikit-learn classifier's class index (an integer),
 * scikit-learn's predict (its label: a number or a string) or predict_proba (a list per row).
 */
import type { Model, PyfuncAnswer } from "../../../model/index.js";
import { answersFor, type RowAnswer } from "../../../model/outputs.js";
import type { Numbers } from "../../scoring/protocol.js";

/** The model's outputs (predictions, rows × numOutputs) as the pyfunc answers them. */
export function pyfuncAnswers(
  model: Model,
  answer: PyfuncAnswer,
  outputs: Numbers,
  rows: number,
): RowAnswer[] {
  switch (answer) {
    case "predictions":
    case "prediction":
      // The library's own predict: a Booster's values or probabilities, scikit-learn's labels.
      return answersFor(model, "prediction", outputs, rows);
    case "class-indices":
      // XGBClassifier.predict: argmax, or class 1 when P(1) > 0.5.
      return Array.from(model.classes(outputs, rows, "predictions", 0.5));
    case "probabilities":
      return answersFor(model, "proba", outputs, rows);
  }
}
