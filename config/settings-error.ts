/**
 * A setting (flag, environment variable, config file key) with a value forestd cannot use: printed
 * without a stack trace, exit 2. Apart from config/load-settings.ts (which re-exports it) so that
 * the forestd command can tell it apart without loading every setting's schema.
 */
export class SettingsError extends Error {
  readonly code = "FORESTD_ERR_SETTINGS";
  constructor(message: string) {
    super(message);
    this.name = "SettingsError";
  }
}
