/**
 * The stack's topology: each component's host name inside the compose network (its compose
 * service name) and the ports it listens on. Every config that points one component at another,
 * the compose file's published ports, the scrape jobs, the datasources and verify read this.
 */

export const TOPOLOGY = {
  collector: {
    host: 'otel-collector',
    ports: { otlpGrpc: 4317, otlpHttp: 4318, health: 13133, metrics: 8888 },
  },
  prometheus: { host: 'prometheus', ports: { http: 9090 } },
  alertmanager: { host: 'alertmanager', ports: { http: 9093 } },
  loki: { host: 'loki', ports: { http: 3100, grpc: 9096 } },
  tempo: { host: 'tempo', ports: { http: 3200, grpc: 9095, otlpGrpc: 4317, otlpHttp: 4318 } },
  grafana: { host: 'grafana', ports: { http: 3000 } },
} as const;

type Topology = typeof TOPOLOGY;
export type StackComponent = keyof Topology;
type PortOf<C extends StackComponent> = keyof Topology[C]['ports'];

export function port<C extends StackComponent>(component: C, which: PortOf<C>): number {
  return (TOPOLOGY[component].ports as Record<PortOf<C>, number>)[which];
}

/** `host:port` of a component, at its compose name unless told another host (localhost, 0.0.0.0). */
export function address<C extends StackComponent>(
  component: C,
  which: PortOf<C>,
  host: string = TOPOLOGY[component].host,
): string {
  return `${host}:${port(component, which)}`;
}

/** `http://host:port` of a component's HTTP port (or the one named). */
export function httpUrl<C extends StackComponent>(
  component: C,
  options: { port?: PortOf<C>; host?: string } = {},
): string {
  return `http://${address(component, options.port ?? ('http' as PortOf<C>), options.host)}`;
}

/** Where the stack publishes a component's port on the host: loopback only, same number. */
export const LOOPBACK = '127.0.0.1';
