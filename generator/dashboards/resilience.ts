import type { Model } from '../model/model.ts';
import { promQuery, serviceVariable } from './common.ts';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import { SVC, base, series } from './panels.ts';

/** The resilience dashboard: breakers (the standard's 0/1/2 encoding), retries, timeouts, bulkheads, worker pools. */

/** Events per second of one resilience counter, per calling service and dependency. */
const dependencyRate = (title: string, metric: string) =>
  series(title, 'ops').withTarget(
    promQuery(
      `sum by (service_name, dependency) (rate(${metric}{${SVC}}[$__rate_interval]))`,
      '{{service_name}} → {{dependency}}',
    ),
  );

/** The standard's encoding of `circuit_breaker_state`, shown as green, yellow and red. */
const BREAKER_STATE_MAPPING: dashboard.ValueMapping = {
  type: dashboard.MappingType.ValueToText,
  options: {
    '0': { text: 'closed', color: 'green', index: 0 },
    '1': { text: 'half-open', color: 'yellow', index: 1 },
    '2': { text: 'open', color: 'red', index: 2 },
  },
};

export function resilience(model: Model) {
  const dep = SVC;
  return base(
    model,
    'resilience',
    'Resilience',
    'Circuit breakers, retries, timeouts, bulkheads and worker pools per dependency.',
  )
    .withVariable(serviceVariable(true))
    .withPanel(
      new statetimeline.PanelBuilder()
        .title('Circuit breaker state')
        .height(8)
        .span(24)
        .mappings([BREAKER_STATE_MAPPING])
        .withTarget(
          promQuery(
            `max by (service_name, dependency) (circuit_breaker_state{${dep}})`,
            '{{service_name}} → {{dependency}}',
          ),
        ),
    )
    .withPanel(
      series('Breaker transitions per second', 'ops').withTarget(
        promQuery(
          `sum by (dependency, from_state, to_state) (rate(circuit_breaker_transitions_total{${dep}}[$__rate_interval]))`,
          '{{dependency}} {{from_state}}→{{to_state}}',
        ),
      ),
    )
    .withPanel(dependencyRate('Retries per second', 'retry_attempts_total'))
    .withPanel(dependencyRate('Timeouts per second', 'timeout_exceeded_total'))
    .withPanel(dependencyRate('Bulkhead rejections per second', 'bulkhead_rejections_total'))
    .withPanel(
      // executor_* are per pool type (thread/process) in the standard, not per dependency
      series('Worker pool use', 'percentunit')
        .withTarget(
          promQuery(
            `max by (service_name, pool_type) (executor_active_workers{${dep}}) / max by (service_name, pool_type) (executor_max_workers{${dep}})`,
            '{{service_name}} {{pool_type}} pool busy',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (service_name, pool_type) (executor_pending_tasks{${dep}})`,
            '{{service_name}} {{pool_type}} pool pending',
            'B',
          ),
        ),
    )
    .withPanel(
      series('Bulkhead permits free', 'short').withTarget(
        promQuery(
          `min by (service_name, dependency) (semaphore_available{${dep}})`,
          '{{service_name}} → {{dependency}}',
        ),
      ),
    );
}
