/**
 * Whether workers trace, read from the standard OpenTelemetry variables only
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). Kept apart
 * from the SDK so that deciding costs no import: with tracing off, no OpenTelemetry module loads.
 * `forestd serve` checks it at start-up with the settings; each worker reads it again to start.
 *
 * Off unless asked for. The specification's default exporter is "otlp", but a server that starts
 * sending spans to localhost:4318 because nobody said otherwise would surprise its operator, so
 * forestd traces when OTEL_TRACES_EXPORTER names an exporter, or when an OTLP endpoint is set.
 */

import { SettingsError } from "./load-settings.js";

export type TracingConfig =
  | { exporter: "otlp"; protocol: "http/protobuf" | "http/json" }
  | { exporter: "console" };

/** null when tracing is off; throws for settings forestd cannot honour (rather than ignore them). */
export function tracingConfig(env: NodeJS.ProcessEnv): TracingConfig | null {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return null;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean);
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (exporters.length === 0) exporters.push(endpoint ? "otlp" : "none");
  if (exporters.includes("none")) return null;
  if (exporters.length > 1)
    throw new SettingsError(`OTEL_TRACES_EXPORTER: one exporter only, got "${exporters.join(",")}"`);
  const [exporter] = exporters;
  if (exporter === "console") return { exporter };
  if (exporter !== "otlp")
    throw new SettingsError(`OTEL_TRACES_EXPORTER: "${exporter}" is not supported (otlp, console or none)`);
  const protocol = (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ||
    env.OTEL_EXPORTER_OTLP_PROTOCOL ||
    "http/protobuf"
  ).trim();
  if (protocol !== "http/protobuf" && protocol !== "http/json")
    throw new SettingsError(
      `OTEL_EXPORTER_OTLP_PROTOCOL: "${protocol}" is not supported (http/protobuf or http/json)`,
    );
  return { exporter, protocol };
}
