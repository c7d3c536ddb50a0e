/**
 * The pinned versions for the shell scripts, which read them with
 * `eval "$(node scripts/versions.ts)"` instead of typing them a second time: one
 * `NAME=value` line per fact, shell-quoted.
 */
import { BACKEND_BUILDS } from '../generator/versions.ts';

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
const lines: string[] = [];
for (const [component, build] of Object.entries(BACKEND_BUILDS)) {
  const name = component.toUpperCase();
  lines.push(`${name}_MODULE=${quote(build.module)}`);
  lines.push(`${name}_MODULE_VERSION=${quote(build.moduleVersion)}`);
  lines.push(`${name}_VERSION=${quote(build.version)}`);
}
console.log(lines.join('\n'));
