import type { ToolCheck, ToolCheckResult } from './index.ts';
import { findTool, run } from './tools.ts';

/** Loki and Tempo parse and validate their config without starting (strict: unknown keys fail). */
function configCheck(options: {
  tool: 'loki' | 'tempo';
  file: string;
  args: (file: string) => string[];
}): ToolCheck {
  return {
    name: `${options.tool} config (${options.tool} ${options.args('FILE').join(' ')})`,
    async run({ dir, files, env }): Promise<ToolCheckResult> {
      if (!files.includes(options.file))
        return { status: 'passed', summary: `no ${options.tool} config generated` };
      const binary = await findTool(options.tool, env);
      if (!binary) {
        return {
          status: 'unavailable',
          summary: `no ${options.tool} found; run "npx otelkit tools install --only ${options.tool}" or set OTELKIT_${options.tool.toUpperCase()}`,
        };
      }
      const result = await run(binary, options.args(options.file), dir);
      return result.ok
        ? { status: 'passed', summary: `${options.file} accepted by ${options.tool}` }
        : {
            status: 'failed',
            summary: `${options.tool} rejected ${options.file}`,
            details: result.output.split('\n').slice(-5),
          };
    },
  };
}

export const lokiCheck = configCheck({
  tool: 'loki',
  file: 'stacks/loki/loki.yaml',
  args: (file) => [`-config.file=${file}`, '-verify-config'],
});

/** Tempo's -config.verify also fails on its configuration warnings (e.g. a retention under the poll cycle). */
export const tempoCheck = configCheck({
  tool: 'tempo',
  file: 'stacks/tempo/tempo.yaml',
  args: (file) => [`-config.file=${file}`, '-config.verify=true'],
});
