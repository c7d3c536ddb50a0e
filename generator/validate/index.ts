import { amtoolCheck } from './alertmanager.ts';
import { lokiCheck, tempoCheck } from './backends.ts';
import { collectorCheck } from './collector.ts';
import { dashboardQueryCheck } from './dashboards.ts';
import { promtoolCheck } from './prometheus.ts';

export interface ToolCheckContext {
  /** Directory holding the rendered output. */
  dir: string;
  /** Relative paths of the rendered files. */
  files: string[];
  env: Readonly<Record<string, string | undefined>>;
}

export interface ToolCheckResult {
  status: 'passed' | 'failed' | 'unavailable';
  summary: string;
  details?: string[];
}

export interface ToolCheck {
  name: string;
  run(context: ToolCheckContext): Promise<ToolCheckResult>;
}

/** Real-tool checks of generated files; each later backend adds one module here. */
export const TOOL_CHECKS: readonly ToolCheck[] = [
  dashboardQueryCheck,
  collectorCheck,
  promtoolCheck,
  amtoolCheck,
  lokiCheck,
  tempoCheck,
];
