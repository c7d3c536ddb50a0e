import type { Model } from '../model/model.ts';
import {
  COLLECTOR_CONTRIB_MODULE,
  COLLECTOR_CORE_MODULE,
  COLLECTOR_PROVIDER_VERSION,
} from '../model/versions.ts';
import type { Artifact, Target } from './artifact.ts';
import { COMPONENT, collectorConfigs, type CollectorConfig } from './collector.ts';

type Kind = 'receivers' | 'processors' | 'connectors' | 'exporters' | 'extensions';
const KINDS: readonly Kind[] = ['receivers', 'processors', 'connectors', 'exporters', 'extensions'];

/** Go module of each component type the configs may use; core modules follow the Collector version. */
const MODULES: Readonly<Record<string, { kind: Kind; module: string; core: boolean }>> = {
  [COMPONENT.otlpReceiver]: { kind: 'receivers', module: 'receiver/otlpreceiver', core: true },
  [COMPONENT.memoryLimiter]: { kind: 'processors', module: 'processor/memorylimiterprocessor', core: true },
  [COMPONENT.resourceDetection]: {
    kind: 'processors',
    module: 'processor/resourcedetectionprocessor',
    core: false,
  },
  [COMPONENT.transform]: { kind: 'processors', module: 'processor/transformprocessor', core: false },
  [COMPONENT.redaction]: { kind: 'processors', module: 'processor/redactionprocessor', core: false },
  [COMPONENT.tailSampling]: { kind: 'processors', module: 'processor/tailsamplingprocessor', core: false },
  [COMPONENT.spanMetrics]: { kind: 'connectors', module: 'connector/spanmetricsconnector', core: false },
  [COMPONENT.forward]: { kind: 'connectors', module: 'connector/forwardconnector', core: true },
  [COMPONENT.otlpGrpcExporter]: { kind: 'exporters', module: 'exporter/otlpexporter', core: true },
  [COMPONENT.otlpHttpExporter]: { kind: 'exporters', module: 'exporter/otlphttpexporter', core: true },
  [COMPONENT.debugExporter]: { kind: 'exporters', module: 'exporter/debugexporter', core: true },
  [COMPONENT.loadBalancingExporter]: {
    kind: 'exporters',
    module: 'exporter/loadbalancingexporter',
    core: false,
  },
  [COMPONENT.healthCheck]: { kind: 'extensions', module: 'extension/healthcheckextension', core: false },
  [COMPONENT.fileStorage]: { kind: 'extensions', module: 'extension/storage/filestorage', core: false },
};

const PROVIDERS = ['envprovider', 'fileprovider', 'yamlprovider'];

export const componentType = (id: string) => id.split('/')[0]!;

/** Every component type the configs reference, per kind. */
export function usedComponents(configs: readonly CollectorConfig[]): Record<Kind, string[]> {
  const used = Object.fromEntries(KINDS.map((kind) => [kind, new Set<string>()])) as Record<
    Kind,
    Set<string>
  >;
  for (const config of configs) {
    for (const kind of KINDS) for (const id of Object.keys(config[kind])) used[kind].add(componentType(id));
  }
  return Object.fromEntries(KINDS.map((kind) => [kind, [...used[kind]].sort()])) as Record<Kind, string[]>;
}

export function builderManifest(model: Model) {
  const configs = collectorConfigs(model);
  const version = model.versions.collector;
  const used = usedComponents([configs.main, ...(configs.gateway ? [configs.gateway] : [])]);
  const entries = (kind: Kind) =>
    used[kind].map((type) => {
      const known = MODULES[type];
      if (!known || known.kind !== kind)
        throw new Error(`internal: no Go module known for ${kind} "${type}"`);
      const base = known.core ? COLLECTOR_CORE_MODULE : COLLECTOR_CONTRIB_MODULE;
      return { gomod: `${base}/${known.module} v${version}` };
    });
  const providerVersion = COLLECTOR_PROVIDER_VERSION[version];
  if (!providerVersion)
    throw new Error(`internal: no confmap provider version known for Collector ${version}`);
  return {
    dist: {
      name: 'otelcol-otelkit',
      description: `OpenTelemetry Collector with exactly the components the ${model.project} configs use`,
      version,
      output_path: './_build',
    },
    ...Object.fromEntries(KINDS.filter((kind) => used[kind].length > 0).map((kind) => [kind, entries(kind)])),
    providers: PROVIDERS.map((name) => ({
      gomod: `${COLLECTOR_CORE_MODULE}/confmap/provider/${name} v${providerVersion}`,
    })),
  };
}

export const collectorBuildTarget: Target = {
  name: 'collector-build',
  description: 'OpenTelemetry Collector Builder manifest for a Collector with exactly the used components',
  generate: (model): Artifact[] => [
    { path: 'stacks/collector/builder-config.yaml', format: 'yaml', content: builderManifest(model) },
  ],
};
