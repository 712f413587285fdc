/**
 * /invocations' Content-Type, read as MLflow's scoring server reads it (`invocations()`): split
 * on ";", the first part is the media type (compared as written), the rest `key=value`
 * parameters; a charset other than utf-8 (any case) is refused, then any parameter but charset,
 * then any media type but text/csv and application/json: each a 415 with MLflow's text.
 */
import {
  CONTENT_TYPE_CSV,
  CONTENT_TYPE_JSON,
  MlflowContentTypeError,
  SCORING_PROTOCOL_CHANGE_INFO,
} from "./protocol.js";

export type InvocationsMediaType = typeof CONTENT_TYPE_CSV | typeof CONTENT_TYPE_JSON;

/** The body's media type, or throws MlflowContentTypeError with MLflow's 415 text. */
export function invocationsMediaType(header: string | undefined): InvocationsMediaType {
  // MLflow's server fails outright without the header; forestd names it as Python would print it.
  const contentType = header ?? "None";
  const parts = contentType.split(";").map((p) => p.trim());
  const mime = parts[0];
  const parameters = new Map<string, string>();
  for (const pair of parts.slice(1)) {
    const eq = pair.indexOf("=");
    parameters.set(eq < 0 ? pair : pair.slice(0, eq), eq < 0 ? "" : pair.slice(eq + 1));
  }
  const charset = (parameters.get("charset") ?? "utf-8").toLowerCase();
  if (charset !== "utf-8") throw new MlflowContentTypeError("The scoring server only supports UTF-8");
  const unexpected = [...parameters.keys()].filter((k) => k !== "charset");
  if (unexpected.length > 0)
    throw new MlflowContentTypeError(
      `Unrecognized content type parameters: ${unexpected.join(", ").slice(0, 200)}. ${SCORING_PROTOCOL_CHANGE_INFO}`,
    );
  if (mime === CONTENT_TYPE_CSV || mime === CONTENT_TYPE_JSON) return mime;
  throw new MlflowContentTypeError(
    `This predictor only supports the following content types: Types: ['${CONTENT_TYPE_CSV}', '${CONTENT_TYPE_JSON}']. Got '${contentType.slice(0, 200)}'.`,
  );
}
