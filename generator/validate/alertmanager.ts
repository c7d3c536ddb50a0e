import type { ToolCheck, ToolCheckResult } from './index.ts';
import { findTool, run } from './tools.ts';

export const amtoolCheck: ToolCheck = {
  name: 'Alertmanager config (amtool check-config)',
  async run({ dir, files, env }): Promise<ToolCheckResult> {
    const config = 'stacks/alertmanager/alertmanager.yml';
    if (!files.includes(config)) return { status: 'passed', summary: 'no Alertmanager config generated' };
    const amtool = await findTool('amtool', env);
    if (!amtool) {
      return {
        status: 'unavailable',
        summary: 'no amtool found; run "npx otelkit tools install --only amtool" or set OTELKIT_AMTOOL',
      };
    }
    const result = await run(amtool, ['check-config', config], dir);
    return result.ok
      ? { status: 'passed', summary: `${config} accepted by amtool` }
      : {
          status: 'failed',
          summary: 'amtool rejected the Alertmanager config',
          details: result.output.split('\n'),
        };
  },
};
