import type { ServiceModel } from '../model/model.ts';
import type { RunbookStep } from './definitions.ts';

export function commonServiceSteps(service: ServiceModel): RunbookStep[] {
  return [
    {
      text: 'Error logs with their trace and request ids (Grafana Explore, Loki):',
      language: 'logql',
      code: `{service_name="${service.name}"} | severity_text=~"(?i)error|fatal"`,
    },
    {
      text: 'On a host running the service, pull the same from its JSON log lines:',
      language: 'sh',
      code: `docker compose logs --no-log-prefix ${service.name} | jq -c 'select(.level == "error") | {timestamp, request_id, trace_id, message}'`,
    },
  ];
}
