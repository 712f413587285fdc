/**
 * The A/B scripts' command line, as scripts/script-args.ts treats the built scripts': `--help` (or
 * `-h`) prints the usage and exits 0; an option the script does not take is refused with the usage
 * (exit 2). Returns the positional arguments.
 */
export function positionalArgs(usage) {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(usage);
    process.exit(0);
  }
  const unknown = argv.find((a) => a.startsWith("-"));
  if (unknown !== undefined) {
    console.error(`unknown option ${unknown}\n${usage}`);
    process.exit(2);
  }
  return argv;
}
