/**
 * The pinned versions for the shell scripts, which read them with
 * `eval "$(node scripts/versions.ts)"` instead of typing them a second time: one
 * `NAME=value` line per fact, shell-quoted. (`otelkit tools install` passes the same lines in
 * OTELKIT_VERSIONS, since Node does not run TypeScript inside node_modules.)
 */
import { shellVersionLines } from '../generator/model/versions.ts';

console.log(shellVersionLines());
